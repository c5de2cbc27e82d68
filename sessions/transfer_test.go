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
