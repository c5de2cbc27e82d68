package view

import (
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/membership"
	"github.com/sessiongate/sessiongate/ring"
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
