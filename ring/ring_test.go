package ring

import (
	"fmt"
	"slices"
	"testing"
)

func names(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("node-%d", i))
	}
	return out
}

func mustNew(t testing.TB, cfg Config, members []string) *Ring {
	t.Helper()
	r, err := New(cfg, members)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDeterministic(t *testing.T) {
	a := mustNew(t, Config{}, names(5))
	m := names(5)
	slices.Reverse(m)
	b := mustNew(t, Config{}, m)
	if a.Version() != b.Version() || len(Diff(a, b)) != 0 {
		t.Fatal("member order changed the table")
	}
	c := mustNew(t, Config{Replicas: 2}, names(5))
	if c.Version() == a.Version() {
		t.Fatal("config not part of the version")
	}
}

func TestReplicaSets(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 9} {
		r := mustNew(t, Config{Partitions: 256, Replicas: 3}, names(n))
		for p := 0; p < r.Partitions(); p++ {
			set := r.Replicas(p)
			if len(set) != min(3, n) {
				t.Fatalf("%d members: partition %d has %d replicas", n, p, len(set))
			}
			if set[0] != r.Primary(p) {
				t.Fatal("primary not first")
			}
			seen := map[string]bool{}
			for i, m := range set {
				if seen[m] {
					t.Fatalf("partition %d lists %s twice", p, m)
				}
				seen[m] = true
				if held, rank := r.Holds(m, p); !held || rank != i {
					t.Fatalf("Holds(%s,%d) = %v,%d", m, p, held, rank)
				}
			}
		}
	}
}

// Backups spread: one primary's partitions do not all share the same backup pair, and each
// member carries a fair share of copies.
func TestBackupsSpread(t *testing.T) {
	r := mustNew(t, Config{Partitions: 256, Replicas: 3}, names(5))
	pairs := map[string]map[string]bool{}
	copies := map[string]int{}
	for p := 0; p < 256; p++ {
		set := r.Replicas(p)
		if pairs[set[0]] == nil {
			pairs[set[0]] = map[string]bool{}
		}
		pairs[set[0]][set[1]+","+set[2]] = true
		for _, m := range set {
			copies[m]++
		}
	}
	for primary, ps := range pairs {
		if len(ps) < 3 {
			t.Fatalf("primary %s uses only %d backup pairs", primary, len(ps))
		}
	}
	for m, c := range copies {
		// 256*3/5 = 153.6 on average
		if c < 110 || c > 200 {
			t.Fatalf("%s holds %d copies", m, c)
		}
	}
	for m := range r.PartitionsOf("node-0") {
		_ = m
	}
	if got := len(r.PartitionsOf("node-0")); got != copies["node-0"] {
		t.Fatalf("PartitionsOf: %d, want %d", got, copies["node-0"])
	}
}

// Removing a member changes only sets that contained it, except where consistent moves a
// primary; we measure how often the new primary already held a copy.
func TestRemoveMemberMovesItsShare(t *testing.T) {
	before := mustNew(t, Config{Partitions: 256}, names(5))
	for _, gone := range names(5) {
		rest := slices.DeleteFunc(names(5), func(s string) bool { return s == gone })
		after := mustNew(t, Config{Partitions: 256}, rest)
		moves := Diff(before, after)
		unrelated, promotedHolder, promoted := 0, 0, 0
		for _, mv := range moves {
			if !slices.Contains(mv.Old, gone) {
				unrelated++
			}
			if mv.Old[0] == gone {
				promoted++
				if slices.Contains(mv.Old, mv.New[0]) {
					promotedHolder++
				}
			}
		}
		// Sets without the removed member change only when consistent moves their primary
		// to rebalance loads; that must stay a small minority.
		if unrelated > 256/8 {
			t.Fatalf("removing %s changed %d sets that did not contain it", gone, unrelated)
		}
		t.Logf("remove %s: %d sets changed, %d did not contain it; new primary already a holder in %d of %d",
			gone, len(moves), unrelated, promotedHolder, promoted)
	}
}

func TestAddMemberMovesFairShare(t *testing.T) {
	before := mustNew(t, Config{Partitions: 256}, names(4))
	after := mustNew(t, Config{Partitions: 256}, names(5))
	movedPrimary := 0
	for p := 0; p < 256; p++ {
		if before.Primary(p) != after.Primary(p) {
			movedPrimary++
		}
	}
	// A fair share is 256/5 = 51; bounded loads may move a few more.
	if movedPrimary < 25 || movedPrimary > 110 {
		t.Fatalf("adding a fifth member moved %d primaries", movedPrimary)
	}
}

func TestBadConfig(t *testing.T) {
	cases := []struct {
		cfg     Config
		members []string
	}{
		{Config{Partitions: -1}, names(3)},
		{Config{Partitions: MaxPartitions + 1}, names(3)},
		{Config{Replicas: -2}, names(3)},
		{Config{Load: 0.5}, names(3)},
		{Config{}, nil},
		{Config{}, []string{"a", "b", "a"}},
	}
	for i, c := range cases {
		if _, err := New(c.cfg, c.members); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	for _, n := range []int{5, 50} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := names(n)
			for i := 0; i < b.N; i++ {
				mustNew(b, Config{Partitions: 256}, m)
			}
		})
	}
}

func BenchmarkReplicas(b *testing.B) {
	r := mustNew(b, Config{Partitions: 256}, names(5))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = r.Replicas(r.PartitionOfSlot(i % 3844))
	}
}
