package sessions

import (
	"testing"
	"time"
)

// recorder is a Journal that keeps what it hears.
type recorder struct {
	ops     []Op
	dropped []int
}

func (r *recorder) Ops(ops []Op)     { r.ops = append(r.ops, ops...) }
func (r *recorder) Dropped(slot int) { r.dropped = append(r.dropped, slot) }

// The journal hears every change, and only changes; replaying what it heard into an empty
// store rebuilds the sessions.
func TestJournalHearsEveryChange(t *testing.T) {
	c := newFakeClock()
	j := &recorder{}
	s := New(Config{Now: c.Now, Journal: j})
	id := mustID(t, 9)
	do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: id, TTL: 3600, Idle: 60})
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("v"), Data: []byte("1")})
	heard := len(j.ops)
	do(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("v")})
	if heard != 2 || len(j.ops) != heard {
		t.Fatalf("heard %d ops for a start and a set, then %d after a read", heard, len(j.ops))
	}

	// Copies applied, one or several at once.
	other := New(Config{Now: c.Now})
	copied := mustID(t, 10)
	do(t, other, Command{Kind: KindStart, Tenant: tenantA, ID: copied, TTL: 3600})
	op, _ := other.Export(copied)
	s.Apply(&op)
	s.ApplyAll([]Op{op, op})
	if len(j.ops) != heard+3 {
		t.Fatalf("heard %d ops after three applied", len(j.ops)-heard)
	}

	// An idle expiry by the sweep, and a dropped slot.
	c.Advance(2 * time.Minute)
	if n, ops := s.Sweep(256, nil); n != 1 || len(ops) != 1 {
		t.Fatalf("sweep ended %d with %d ops", n, len(ops))
	}
	if last := j.ops[len(j.ops)-1]; !last.Ended || last.ID != id {
		t.Fatalf("the sweep's end was not heard: %+v", last)
	}
	s.DropSlot(10)
	if len(j.dropped) != 1 || j.dropped[0] != 10 {
		t.Fatalf("dropped slots heard: %v", j.dropped)
	}

	// Replayed in order, the journal rebuilds the store.
	replay := New(Config{Now: c.Now})
	replay.ApplyAll(j.ops)
	for _, slot := range j.dropped {
		replay.DropSlot(slot)
	}
	if !replay.Ended(id) || replay.Stats().Sessions != 0 || s.Stats().Sessions != 0 {
		t.Fatalf("replayed: ended %v, %d sessions (store %d)", replay.Ended(id), replay.Stats().Sessions, s.Stats().Sessions)
	}
}

// SeenBy moves idle clocks forward, never back, and leaves sessions without one alone.
func TestSeenBy(t *testing.T) {
	s, c := newTestStore()
	idle := mustID(t, 1)
	do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: idle, TTL: 3600, Idle: 60})
	plain := start(t, s, tenantA, 3600)
	c.Advance(50 * time.Second)
	s.SeenBy(c.Now().UnixMilli())
	c.Advance(50 * time.Second) // 100 s after the start, 50 s after SeenBy
	if _, err := s.Do(&Command{Kind: KindTTL, Tenant: tenantA, ID: idle}); err != nil {
		t.Fatalf("an idle session seen 50 s ago: %v", err)
	}
	s.SeenBy(0) // never back
	c.Advance(20 * time.Second)
	if _, err := s.Do(&Command{Kind: KindTTL, Tenant: tenantA, ID: idle}); err == nil {
		t.Fatal("an idle session 70 s after it was last seen is still there")
	}
	if _, err := s.Do(&Command{Kind: KindTTL, Tenant: tenantA, ID: plain}); err != nil {
		t.Fatalf("a session without an idle timeout: %v", err)
	}
}
