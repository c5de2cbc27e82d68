package sessions

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A PUPDATE past MaxUpdateSteps (here the 200k keys of a big REST set body) is refused with
// the cap, and the session is left exactly as it was. At the cap it goes through.
func TestPUpdateStepCap(t *testing.T) {
	s, _ := newTestStore()
	id := start(t, s, tenantA, 60)
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("keep"), Data: []byte("1")})
	before := snapshot(s, id)

	_, err := s.Do(&Command{Kind: KindPUpdate, Tenant: tenantA, ID: id, Updates: pupdateSteps(200_000)})
	var se *Error
	if !errors.Is(err, ErrTooManySteps) || !errors.As(err, &se) || se.Max != MaxUpdateSteps {
		t.Fatalf("200k steps: err %v, want the step cap of %d", err, MaxUpdateSteps)
	}
	if snapshot(s, id) != before {
		t.Fatal("a refused PUPDATE changed the session")
	}
	if info := do(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id}).Info; info.Writes != 1 || info.Payloads != 1 {
		t.Fatalf("after a refused PUPDATE: %d writes, %d payloads; want 1, 1", info.Writes, info.Payloads)
	}

	do(t, s, Command{Kind: KindPUpdate, Tenant: tenantA, ID: id, Updates: pupdateSteps(MaxUpdateSteps - 1)})
	if n := do(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id}).Info.Payloads; n != MaxUpdateSteps {
		t.Fatalf("%d payloads after a PUPDATE at the cap, want %d", n, MaxUpdateSteps)
	}
}

// A session holds at most MaxPayloads names, deleted ones included: a write that adds a name
// past it is refused and changes nothing; writes to names it holds go through.
func TestPayloadCap(t *testing.T) {
	s, _ := newTestStore()
	id := start(t, s, tenantA, 60)
	do(t, s, Command{Kind: KindPUpdate, Tenant: tenantA, ID: id, Updates: pupdateSteps(MaxPayloads - 1)})
	pset := func(name string) Command {
		return Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte(name), Data: []byte("v")}
	}
	two := Command{Kind: KindPUpdate, Tenant: tenantA, ID: id, Updates: []Update{
		{Name: []byte("new-1"), Data: []byte("v")}, {Name: []byte("new-2"), Data: []byte("v")}}}
	before := snapshot(s, id)
	_, err := s.Do(&two)
	var se *Error
	if !errors.Is(err, ErrPayloadLimit) || !errors.As(err, &se) || se.Max != MaxPayloads {
		t.Fatalf("two new names at %d: err %v, want the payload cap", MaxPayloads-1, err)
	}
	if snapshot(s, id) != before {
		t.Fatal("a refused PUPDATE changed the session")
	}
	do(t, s, pset("last")) // the 10,000th name
	before = snapshot(s, id)
	wantErr(t, s, pset("one-too-many"), ErrPayloadLimit)
	// DEL of a name the session never held adds a remembered name too.
	wantErr(t, s, Command{Kind: KindPUpdate, Tenant: tenantA, ID: id, Updates: []Update{{Name: []byte("never"), Delete: true}}}, ErrPayloadLimit)
	if snapshot(s, id) != before {
		t.Fatal("a refused write changed the session")
	}
	// Names it holds stay writable, and a deleted name may come back: neither adds a name.
	do(t, s, pset("last"))
	do(t, s, Command{Kind: KindPDel, Tenant: tenantA, ID: id, Name: []byte("last")})
	wantErr(t, s, pset("one-too-many"), ErrPayloadLimit)
	do(t, s, pset("last"))
	do(t, s, Command{Kind: KindPUpdate, Tenant: tenantA, ID: id, Updates: []Update{
		{Name: []byte("last"), Delete: true}, {Name: []byte("key-0000000"), Data: []byte("w")}}})
}

// A store past MaxMemory refuses what grows it with ErrOOM and changes nothing, while reads,
// deletes, ends, EXPIRE, IDLE, replication and expiry keep working and free memory.
func TestMaxMemory(t *testing.T) {
	c := newFakeClock()
	s := New(Config{Now: c.Now, MaxMemory: 4096})
	var ids []ID
	for s.Stats().UsedMemory <= 4096 {
		id := mustID(t, OwnerSlot(tenantA, []byte("u1")))
		do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: id, TTL: 60, Owner: []byte("u1")})
		do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("p"), Data: make([]byte, 300)})
		ids = append(ids, id)
	}
	id := ids[0]
	before, used := dump(s), s.Stats().UsedMemory
	for _, cmd := range []Command{
		{Kind: KindStart, Tenant: tenantA, ID: mustID(t, -1), TTL: 60},
		{Kind: KindStart, Tenant: tenantB, ID: mustID(t, -1), TTL: 60, Owner: []byte("u2"), MaxSessions: 1, Evict: true},
		{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("p"), Data: []byte("smaller")},
		{Kind: KindPUpdate, Tenant: tenantA, ID: id, Updates: []Update{{Name: []byte("q"), Delete: true}, {Name: []byte("r"), Data: []byte("1")}}},
		{Kind: KindRotate, Tenant: tenantA, ID: id, NewID: mustID(t, id.Slot())},
	} {
		wantErr(t, s, cmd, ErrOOM)
	}
	if dump(s) != before || s.Stats().UsedMemory != used {
		t.Fatal("a refused write changed the store")
	}
	// Reads and writes that do not grow the store work.
	do(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("p")})
	do(t, s, Command{Kind: KindPGetAll, Tenant: tenantA, ID: id})
	do(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id})
	do(t, s, Command{Kind: KindTTL, Tenant: tenantA, ID: id})
	do(t, s, Command{Kind: KindList, Tenant: tenantA, Owner: []byte("u1")})
	do(t, s, Command{Kind: KindExpire, Tenant: tenantA, ID: id, TTL: 120})
	do(t, s, Command{Kind: KindIdle, Tenant: tenantA, ID: id, Idle: 600})
	// Replication is never refused: a backup keeps what its primary acknowledged.
	src := New(Config{Now: c.Now})
	rid := start(t, src, tenantA, 60)
	for _, op := range do(t, src, Command{Kind: KindPSet, Tenant: tenantA, ID: rid, Name: []byte("x"), Data: []byte("y")}).Ops {
		s.Apply(&op)
	}
	if !s.mem.over() {
		t.Fatal("the test expects the store to be past its limit here")
	}
	if res := do(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: rid, Name: []byte("x")}); string(res.Data) != "y" {
		t.Fatalf("replicated payload %q, want y", res.Data)
	}
	// Deletes and ends free memory.
	used = s.Stats().UsedMemory
	do(t, s, Command{Kind: KindPDel, Tenant: tenantA, ID: id, Name: []byte("p")})
	do(t, s, Command{Kind: KindPUpdate, Tenant: tenantA, ID: ids[1], Updates: []Update{{Name: []byte("p"), Delete: true}}})
	do(t, s, Command{Kind: KindEnd, Tenant: tenantA, ID: ids[2]})
	if now := s.Stats().UsedMemory; now >= used {
		t.Fatalf("used memory %d after deletes and an end, was %d", now, used)
	}
	if n := do(t, s, Command{Kind: KindEndOwner, Tenant: tenantA, Owner: []byte("u1")}).Int; n != int64(len(ids)-1) {
		t.Fatalf("ENDOWNER ended %d, want %d", n, len(ids)-1)
	}
	// With the tenant's sessions ended the store is under its limit: growth is accepted again.
	if s.mem.over() {
		t.Fatalf("used %d still past 4096 with one session left", s.Stats().UsedMemory)
	}
	do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: mustID(t, -1), TTL: 1})
	do(t, s, Command{Kind: KindEndAll, Tenant: tenantB})
	checkUsage(t, s)
}

// Expiry frees memory past the limit: once swept, the store takes writes again.
func TestMaxMemoryExpiry(t *testing.T) {
	c := newFakeClock()
	s := New(Config{Now: c.Now, MaxMemory: 2048, TombstoneTTL: time.Second})
	for !s.mem.over() {
		id := start(t, s, tenantA, 10)
		if !s.mem.over() {
			do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("p"), Data: make([]byte, 500)})
		}
	}
	wantErr(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: mustID(t, -1), TTL: 60}, ErrOOM)
	c.Advance(12 * time.Second) // past the deadlines: the sweep ends them
	s.Sweep(numShards, nil)
	c.Advance(2 * time.Second) // past the tombstones' grace: the sweep forgets them
	s.Sweep(numShards, nil)
	if st := s.Stats(); st.Sessions != 0 || st.Tombstones != 0 || st.UsedMemory != 0 {
		t.Fatalf("after expiry: %+v, want an empty store", st)
	}
	start(t, s, tenantA, 60)
	checkUsage(t, s)
}

// snapshot is a session's record as it stands (a comparable value: its blob is a string).
func snapshot(s *Store, id ID) record {
	sh := s.shard(id.Slot())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := sh.live.get(id); r != nil {
		return *r
	}
	return record{}
}

// checkUsage asserts the invariant behind the limit: the store-wide count Do reads equals
// what Stats counts shard by shard.
func checkUsage(t *testing.T, s *Store) {
	t.Helper()
	if got, want := s.mem.used.Load(), s.Stats().UsedMemory; got != want {
		t.Fatalf("store-wide used memory %d, shards count %d", got, want)
	}
}

// Every path that adds or frees sessions, payloads and tombstones keeps the count in step.
func TestUsedMemoryAccounting(t *testing.T) {
	c := newFakeClock()
	s := New(Config{Now: c.Now, MaxMemory: 1 << 40, TombstoneTTL: time.Second})
	peer := New(Config{Now: c.Now})
	var ids []ID
	for i := range 50 {
		owner := []byte(fmt.Sprintf("u%d", i%5))
		id := mustID(t, OwnerSlot(tenantA, owner))
		do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: id, TTL: int64(5 + i%3), Owner: owner, IP: []byte("10.0.0.1")})
		do(t, s, Command{Kind: KindPUpdate, Tenant: tenantA, ID: id, Updates: pupdateSteps(1 + i%7)})
		do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("p"), Data: make([]byte, i+1)})
		ids = append(ids, id)
		pid := start(t, peer, tenantA, 30)
		for _, op := range do(t, peer, Command{Kind: KindPSet, Tenant: tenantA, ID: pid, Name: []byte("x"), Data: make([]byte, i+1)}).Ops {
			s.Apply(&op)
		}
	}
	checkUsage(t, s)
	do(t, s, Command{Kind: KindRotate, Tenant: tenantA, ID: ids[0], NewID: mustID(t, ids[0].Slot())})
	do(t, s, Command{Kind: KindPDel, Tenant: tenantA, ID: ids[1], Name: []byte("p")})
	do(t, s, Command{Kind: KindEnd, Tenant: tenantA, ID: ids[2]})
	do(t, s, Command{Kind: KindEndOwner, Tenant: tenantA, Owner: []byte("u3")})
	end := do(t, s, Command{Kind: KindEnd, Tenant: tenantA, ID: ids[4]}).Ops[0]
	s.Apply(&end) // a duplicate tombstone
	checkUsage(t, s)
	s.DropSlot(ids[5].Slot())
	checkUsage(t, s)
	c.Advance(6 * time.Second)
	s.Sweep(numShards, nil)
	checkUsage(t, s)
	for range 2 { // the rest expire, then their tombstones are forgotten
		c.Advance(time.Minute)
		s.Sweep(numShards, nil)
		checkUsage(t, s)
	}
	if st := s.Stats(); st.Sessions != 0 || st.Tombstones != 0 || st.UsedMemory != 0 {
		t.Fatalf("after everything expired: %+v", st)
	}
}

// Apply orders a peer's fields itself, whatever order and duplicates they come in.
func TestApplyUnsortedFields(t *testing.T) {
	s, _ := newTestStore()
	id := start(t, s, tenantA, 60)
	full, _ := s.Export(id)
	full.HVer++
	full.Fields = []FieldOp{
		{Name: []byte("b"), Ver: 5, Data: []byte("b5")},
		{Name: []byte("a"), Ver: 7, Data: []byte("a7")},
		{Name: []byte("b"), Ver: 9, Data: []byte("b9")},
		{Name: []byte("a"), Ver: 6, Data: []byte("a6")},
	}
	s.Apply(&full)
	got := do(t, s, Command{Kind: KindPGetAll, Tenant: tenantA, ID: id}).Fields
	if len(got) != 2 || string(got[0].Data) != "a7" || string(got[1].Data) != "b9" {
		t.Fatalf("fields %q, want a7 and b9", got)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1536: "1.50K", 100 << 20: "100.00M", 3 << 30: "3.00G"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	f := Stats{UsedMemory: 1536, MaxMemory: 100 << 20}.MemoryFields()
	if f[0] != [2]string{"used_memory", "1536"} || f[3] != [2]string{"maxmemory_human", "100.00M"} {
		t.Fatalf("memory fields %v", f)
	}
}
