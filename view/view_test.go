package view

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/membership"
	"github.com/sessiongate/sessiongate/ring"
	"github.com/sessiongate/sessiongate/sessions"
)

func members(names ...string) map[string]membership.Member {
	m := map[string]membership.Member{}
	for _, n := range names {
		m[n] = membership.Member{Name: n, Repl: n + ":7001", State: "alive"}
	}
	return m
}

func build(t *testing.T, names ...string) *View {
	t.Helper()
	v, err := Build(ring.Config{Partitions: 16, Replicas: 2}, members(names...), time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestBuildIsAllReady(t *testing.T) {
	v := build(t, "a", "b", "c")
	for p := range v.Partitions() {
		if !v.IsReady(p) {
			t.Fatalf("partition %d not ready in a new view", p)
		}
	}
	if got := v.Names(); len(got) != 3 || got[0] != "a" || got[2] != "c" {
		t.Fatalf("Names = %v", got)
	}
	if a, ok := v.Addr("b"); !ok || a != "b:7001" || v.Repl("b") != "b:7001" {
		t.Fatalf("Addr(b) = %q %v", a, ok)
	}
	if _, ok := v.Addr("zz"); ok || v.Repl("zz") != "" {
		t.Fatal("a non-member has an address")
	}
	if _, err := Build(ring.Config{Partitions: 16, Replicas: 2}, nil, time.Now()); err == nil {
		t.Fatal("a view of no members was built")
	}
}

// A partition still gated in the old view stays gated in the next one when this node stays
// its primary, and only then.
func TestInheritKeepsOwnGates(t *testing.T) {
	old := build(t, "a", "b")
	gates := map[int]chan struct{}{}
	for p := range old.Partitions() {
		gates[p] = old.Gate(p)
	}
	next := build(t, "a", "b", "c")
	next.Inherit(old, "a")
	for p := range next.Partitions() {
		stillMine := old.Ring().Primary(p) == "a"
		if next.IsReady(p) == stillMine {
			t.Fatalf("partition %d (old primary %s): ready=%v", p, old.Ring().Primary(p), next.IsReady(p))
		}
		if stillMine {
			close(gates[p])
			if !next.IsReady(p) {
				t.Fatalf("partition %d: closing the old gate did not ready it", p)
			}
		}
	}
	next.Inherit(nil, "a") // the first view has nothing to inherit
}

func TestResyncedGatesApart(t *testing.T) {
	v := build(t, "a", "b")
	r := v.Resynced(time.Unix(200, 0))
	r.Gate(3)
	if !v.IsReady(3) || r.IsReady(3) {
		t.Fatal("gating the re-synced view changed the installed one")
	}
	if r.Since() != time.Unix(200, 0) || v.Since() != time.Unix(100, 0) || r.Version() != v.Version() {
		t.Fatal("Resynced has the wrong time or ring")
	}
	m := members("a", "b")
	m["b"] = membership.Member{Name: "b", State: "suspect"}
	w := v.WithMembers(m)
	if w.Version() != v.Version() || v.members["b"].State != "alive" || w.members["b"].State != "suspect" {
		t.Fatal("WithMembers changed the ring or the old view")
	}
}

func TestReport(t *testing.T) {
	v := build(t, "a", "b", "c")
	m := members("a", "b", "c")
	m["c"] = membership.Member{Name: "c", State: "suspect"}
	v = v.WithMembers(m)
	v.Gate(0)
	dirty := func(p int) bool { return p == 1 }
	parts, mems := v.Report("a", Health{Replicas: 2, Dirty: dirty, Pulling: func(int) bool { return false }})
	if len(parts) != 16 || len(mems) != 3 || mems[0].Name != "a" || mems[2].Name != "c" {
		t.Fatalf("report: %d partitions, members %v", len(parts), mems)
	}
	primaries, held := 0, 0
	for p, pi := range parts {
		set := v.Replicas(p)
		want := p == 0 || set[0] == "a" && p == 1 || set[0] == "c" || set[1] == "c"
		if pi.UnderReplicated != want || pi.Syncing != (p == 0) {
			t.Errorf("partition %d (set %v): under-replicated %v syncing %v", p, set, pi.UnderReplicated, pi.Syncing)
		}
	}
	for _, mm := range mems {
		primaries += mm.Primary
		held += mm.Held
	}
	if primaries != 16 || held != 32 {
		t.Fatalf("members count %d primaries and %d copies, want 16 and 32", primaries, held)
	}
}

// Self is alive in its own view whatever gossip says of it, and absent once leaving.
func TestMembersPutsSelfAliveOrAway(t *testing.T) {
	self := membership.Member{Name: "a", Repl: "a:1"}
	peers := []membership.Member{{Name: "a", State: "suspect"}, {Name: "b", State: "suspect"}}
	m := Members(self, peers, false)
	if len(m) != 2 || m["a"].State != "alive" || m["a"].Repl != "a:1" || m["b"].State != "suspect" {
		t.Fatalf("Members = %+v", m)
	}
	if m := Members(self, peers, true); len(m) != 1 || m["b"].Name != "b" {
		t.Fatalf("Members while leaving = %+v", m)
	}
}

func TestChangeNamesBothSides(t *testing.T) {
	old, next := build(t, "a", "b"), build(t, "a", "b", "c")
	ch := next.Change(old, "a", false)
	if ch.Old != old.Ring() || ch.New != next.Ring() || ch.Self != "a" || ch.Leaving ||
		len(ch.OldMembers) != 2 || !ch.OldMembers["b"] || len(ch.Alive) != 3 || !ch.Alive["c"] {
		t.Fatalf("Change = %+v", ch)
	}
	if first := old.Change(nil, "a", true); first.Old != nil || first.OldMembers != nil || !first.Leaving {
		t.Fatalf("first Change = %+v", first)
	}
}

func TestByPartition(t *testing.T) {
	v := build(t, "a")
	var ops []sessions.Op
	for _, slot := range []int{1, 17, 2, 33} { // 16 partitions: 1, 17 and 33 share one
		id, err := sessions.NewID(rand.Reader, slot)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, sessions.Op{ID: id})
	}
	by := v.ByPartition(ops)
	if len(by) != 2 || len(by[1]) != 3 || len(by[2]) != 1 || by[1][1].ID != ops[1].ID {
		t.Fatalf("ByPartition = %v", by)
	}
}
