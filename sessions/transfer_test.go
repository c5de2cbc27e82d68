package sessions

import (
	"testing"
)

func TestSlotOpsRebuildReplica(t *testing.T) {
	s, c := newTestStore()
	var ids []ID
	for i := 0; i < 50; i++ {
		id := mustID(t, i%3)
		ids = append(ids, id)
		do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: id, TTL: 60, Owner: []byte("o")})
		do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("a"), Data: []byte("x")})
	}
	do(t, s, Command{Kind: KindEnd, Tenant: tenantA, ID: ids[0]})
	do(t, s, Command{Kind: KindPDel, Tenant: tenantA, ID: ids[3], Name: []byte("a")})
	r := New(Config{Now: c.Now})
	for slot := 0; slot < 3; slot++ {
		if s.SlotDigest(slot) == r.SlotDigest(slot) {
			t.Fatalf("slot %d: empty replica has the same digest", slot)
		}
		s.SlotOps(slot, func(op *Op) { r.Apply(op) })
		if s.SlotDigest(slot) != r.SlotDigest(slot) {
			t.Fatalf("slot %d: digests differ after transfer", slot)
		}
	}
	if dump(s) != dump(r) {
		t.Fatalf("transfer lost state:\n%s\n---\n%s", dump(s), dump(r))
	}
	// One more write makes the digests differ again.
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: ids[1], Name: []byte("b"), Data: []byte("y")})
	if s.SlotDigest(ids[1].Slot()) == r.SlotDigest(ids[1].Slot()) {
		t.Fatal("digest blind to a write")
	}
}

func TestDropSlot(t *testing.T) {
	s, _ := newTestStore()
	keep := mustID(t, 1)
	do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: keep, TTL: 60})
	for i := 0; i < 10; i++ {
		start := mustID(t, 2)
		do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: start, TTL: 60})
		if i == 0 {
			do(t, s, Command{Kind: KindEnd, Tenant: tenantA, ID: start})
		}
	}
	if n := s.DropSlot(2); n != 9 {
		t.Fatalf("dropped %d, want 9", n)
	}
	if st := s.Stats(); st.Sessions != 1 || st.Tombstones != 0 {
		t.Fatalf("after drop: %+v", st)
	}
	if _, ok := s.Export(keep); !ok {
		t.Fatal("another slot was dropped")
	}
}

// A slot's digest covers its own sessions and tombstones only, though its shard holds other
// slots too; SlotDigests answers each slot asked for, in order, however often it is asked.
func TestSlotDigestsKeepShardMatesApart(t *testing.T) {
	mates := []int{7, 7 + numShards, 7 + 2*numShards, 8} // the first three share a shard
	all, c := newTestStore()
	for i := 0; i < 40; i++ {
		slot := mates[i%len(mates)]
		id := mustID(t, slot)
		cmds := []Command{
			{Kind: KindStart, Tenant: tenantA, ID: id, TTL: 60, Owner: []byte("o")},
			{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("a"), Data: []byte{byte(i)}},
		}
		if i%5 == 0 {
			cmds = append(cmds, Command{Kind: KindEnd, Tenant: tenantA, ID: id}) // a tombstone
		}
		for _, cmd := range cmds {
			do(t, all, cmd)
		}
	}
	alone := New(Config{Now: c.Now}) // slot 7's state only, versions and all
	all.SlotOps(7, func(op *Op) { alone.Apply(op) })
	got := all.SlotDigests([]int{7, -1, 7 + numShards, 7, Slots, 8})
	want7 := alone.SlotDigest(7)
	if want7 == 0 || got[0] != want7 || got[3] != want7 {
		t.Fatalf("slot 7's digest %x/%x with shard mates, %x alone", got[0], got[3], want7)
	}
	if got[1] != 0 || got[4] != 0 {
		t.Fatalf("out-of-range slots got digests %x, %x", got[1], got[4])
	}
	if got[2] == 0 || got[2] == want7 || got[5] == 0 {
		t.Fatalf("shard mate 263 and slot 8: %x, %x", got[2], got[5])
	}
	for slot, at := range map[int]int{7: 0, 7 + numShards: 2, 8: 5} {
		if d := all.SlotDigest(slot); d != got[at] {
			t.Fatalf("SlotDigest(%d) = %x, SlotDigests said %x", slot, d, got[at])
		}
	}
}
