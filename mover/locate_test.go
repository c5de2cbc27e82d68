package mover

import (
	"context"
	"testing"

	"github.com/sessiongate/sessiongate/ring"
	"github.com/sessiongate/sessiongate/sessions"
)

// Locate reports what each member holds of one session, its rank, and who did not answer.
func TestLocateReportsEveryMember(t *testing.T) {
	n := threeStores()
	r, err := ring.New(ring.Config{Partitions: 8, Replicas: 2}, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	set := r.Replicas(3)
	id := startIn(t, n.stores[set[0]], r, 3)
	// The backup holds the session's tombstone, from a store where it was started and ended.
	ended := sessions.New(sessions.Config{})
	startInID(t, ended, id)
	if _, err := ended.Do(&sessions.Command{Kind: sessions.KindEnd, Tenant: tenant, ID: id}); err != nil {
		t.Fatal(err)
	}
	for _, op := range ended.ExportChain(id) {
		n.stores[set[1]].Apply(&op)
	}
	var other string
	for _, m := range []string{"a", "b", "c"} {
		if m != set[0] && m != set[1] {
			other = m
		}
	}
	n.down[other] = true
	m := newMover(t, set[0], n, fixedView{r}, nil)
	got := map[string]string{}
	for _, cp := range m.Locate(context.Background(), fixedView{r}, id) {
		got[cp.Node] = cp.State
		if want := map[string]int{set[0]: 0, set[1]: 1, other: -1}[cp.Node]; cp.Rank != want {
			t.Errorf("%s: rank %d, want %d", cp.Node, cp.Rank, want)
		}
	}
	want := map[string]string{set[0]: "live", set[1]: "ended", other: "unreachable"}
	if len(got) != 3 || got[set[0]] != want[set[0]] || got[set[1]] != want[set[1]] || got[other] != want[other] {
		t.Fatalf("Locate = %v, want %v", got, want)
	}
	if cp := CopyOf(nil, id, "x", 2); cp.State != "absent" || cp.Rank != 2 {
		t.Fatalf("CopyOf(no ops) = %+v", cp)
	}
}

func startInID(t *testing.T, s *sessions.Store, id sessions.ID) {
	t.Helper()
	if _, err := s.Do(&sessions.Command{Kind: sessions.KindStart, Tenant: tenant, ID: id, TTL: 3600}); err != nil {
		t.Fatal(err)
	}
}
