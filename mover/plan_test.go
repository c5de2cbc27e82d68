package mover

import (
	"slices"
	"testing"

	"github.com/sessiongate/sessiongate/ring"
)

func mustRing(t *testing.T, members ...string) *ring.Ring {
	t.Helper()
	r, err := ring.New(ring.Config{Partitions: 32, Replicas: 2}, members)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// TestPlanChange checks, partition by partition against the rings themselves, what a view
// change means for one node: whom it pulls from, which partitions it gates, which it hands off.
func TestPlanChange(t *testing.T) {
	abc := mustRing(t, "a", "b", "c")
	ab := mustRing(t, "a", "b")
	abcd := mustRing(t, "a", "b", "c", "d")
	alone := mustRing(t, "a")
	cases := []struct {
		name string
		ch   Change
	}{
		{"first view", Change{Self: "a", New: abc, Alive: set("a", "b", "c")}},
		{"same ring", Change{Self: "a", Old: abc, OldMembers: set("a", "b", "c"), New: abc, Alive: set("a", "b", "c")}},
		{"member dies", Change{Self: "a", Old: abc, OldMembers: set("a", "b", "c"), New: ab, Alive: set("a", "b")}},
		{"member joins", Change{Self: "a", Old: abc, OldMembers: set("a", "b", "c"), New: abcd, Alive: set("a", "b", "c", "d")}},
		{"restarted empty, sees the cluster", Change{Self: "a", Old: alone, OldMembers: set("a"), New: abc, Alive: set("a", "b", "c")}},
		{"leaving", Change{Self: "a", Old: abc, OldMembers: set("a", "b", "c"), New: mustRing(t, "b", "c"), Alive: set("b", "c"), Leaving: true}},
		{"new primary dead", Change{Self: "c", Old: abc, OldMembers: set("a", "b", "c"), New: ab, Alive: set("a")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := tc.ch
			pl := PlanChange(ch)
			if ch.Old == nil {
				if len(pl.Syncs)+len(pl.Lost)+len(pl.Resigned)+pl.Moved != 0 {
					t.Fatalf("first view planned work: %+v", pl)
				}
				return
			}
			moves := ring.Diff(ch.Old, ch.New)
			if pl.Moved != len(moves) {
				t.Fatalf("moved %d, want %d", pl.Moved, len(moves))
			}
			syncs := map[int]Sync{}
			for _, s := range pl.Syncs {
				syncs[s.P] = s
			}
			for _, mv := range moves {
				p := mv.Partition
				wasPrimary := mv.Old[0] == ch.Self
				isPrimary := mv.New[0] == ch.Self
				resigned := slices.Contains(pl.Resigned, p)
				if resigned != (wasPrimary && !isPrimary) {
					t.Errorf("partition %d: resigned %v, was primary %v, is %v", p, resigned, wasPrimary, isPrimary)
				}
				lost := slices.Contains(pl.Lost, p)
				if want := wasPrimary && !isPrimary && ch.Alive[mv.New[0]] && !ch.Leaving; lost != want {
					t.Errorf("partition %d: lost %v, want %v", p, lost, want)
				}
				s, pulls := syncs[p]
				holds := slices.Contains(mv.New, ch.Self)
				var sources []string
				for _, m := range append(slices.Clone(mv.Old), mv.New...) {
					if m != ch.Self && ch.Alive[m] && !slices.Contains(sources, m) {
						sources = append(sources, m)
					}
				}
				slices.Sort(sources)
				if want := holds && !ch.Leaving && len(sources) > 0; pulls != want {
					t.Fatalf("partition %d: pulls %v, want %v", p, pulls, want)
				}
				if !pulls {
					continue
				}
				if !slices.Equal(s.From, sources) {
					t.Errorf("partition %d: pulls from %v, want %v", p, s.From, sources)
				}
				newcomer := slices.ContainsFunc(sources, func(m string) bool { return !ch.OldMembers[m] })
				if want := isPrimary && (!wasPrimary || newcomer); s.Gate != want {
					t.Errorf("partition %d: gate %v, want %v", p, s.Gate, want)
				}
			}
			if len(syncs) != len(pl.Syncs) {
				t.Error("a partition is pulled twice")
			}
		})
	}
}

// TestPlanGatesAPrimaryThatMeetsNewcomers is the case behind the newcomer rule: a node that
// restarted empty saw itself alone (primary of everything), then the cluster. It stays
// primary of some partitions, and must not serve them before pulling from the others.
func TestPlanGatesAPrimaryThatMeetsNewcomers(t *testing.T) {
	alone, abc := mustRing(t, "a"), mustRing(t, "a", "b", "c")
	pl := PlanChange(Change{Self: "a", Old: alone, OldMembers: set("a"), New: abc, Alive: set("a", "b", "c")})
	stayed := 0
	for _, s := range pl.Syncs {
		if abc.Primary(s.P) == "a" {
			stayed++
			if !s.Gate {
				t.Errorf("partition %d served before pulling from the members it just met", s.P)
			}
		}
	}
	if stayed == 0 {
		t.Fatal("no partition stayed with a")
	}
	if len(pl.Lost) == 0 {
		t.Fatal("a lost no partition to b or c")
	}
}

func TestResyncGatesEveryPrimaryPartition(t *testing.T) {
	r := mustRing(t, "a", "b", "c")
	syncs := Resync("a", r, []string{"c", "a", "b"})
	for _, s := range syncs {
		if r.Primary(s.P) != "a" || !s.Gate || !slices.Equal(s.From, []string{"b", "c"}) {
			t.Errorf("bad sync %+v", s)
		}
	}
	primaries := 0
	for p := 0; p < r.Partitions(); p++ {
		if r.Primary(p) == "a" {
			primaries++
		}
	}
	if len(syncs) != primaries {
		t.Errorf("%d syncs for %d partitions", len(syncs), primaries)
	}
	if Resync("a", r, []string{"a"}) != nil {
		t.Error("a node alone resyncs from nobody")
	}
}

// A leaving node hands each partition it held to every holder of the ring without it.
func TestPlanLeave(t *testing.T) {
	cfg := ring.Config{Partitions: 32, Replicas: 2}
	old, err := ring.New(cfg, []string{"a", "b", "c", "d"})
	if err != nil {
		t.Fatal(err)
	}
	next, err := ring.New(cfg, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	hs, moved := PlanLeave("d", old, next)
	want := map[Handoff]bool{}
	held := 0
	for p := range old.Partitions() {
		if ok, _ := old.Holds("d", p); ok {
			held++
			for _, to := range next.Replicas(p) {
				want[Handoff{P: p, To: to}] = true
			}
		}
	}
	if moved != held || held == 0 || len(hs) != len(want) {
		t.Fatalf("moved %d partitions in %d hand-offs; d held %d, want %d hand-offs", moved, len(hs), held, len(want))
	}
	for _, h := range hs {
		if !want[h] || h.To == "d" {
			t.Fatalf("unexpected hand-off %+v", h)
		}
	}
	if hs, moved := PlanLeave("zz", old, next); len(hs) != 0 || moved != 0 {
		t.Fatalf("a non-member hands off %d partitions", moved)
	}
}
