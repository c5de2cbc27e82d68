package node

import (
	"context"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
)

// Locate reports every member's own copy, its rank in the replica set, and the members it
// could not ask.
func TestLocateAsksEveryMember(t *testing.T) {
	nodes := startCluster(t, 4)
	id := writeSessions(t, nodes, 1)[0]
	primary, _ := roles(t, nodes, id)
	byNode := func(cps []api.Copy) map[string]api.Copy {
		out := map[string]api.Copy{}
		for _, cp := range cps {
			out[cp.Node] = cp
		}
		return out
	}
	eventually(t, 10*time.Second, "every replica to hold the session", func() bool {
		live := 0
		for _, cp := range nodes[0].n.Locate(context.Background(), id) {
			if cp.State == "live" {
				live++
			}
		}
		return live == 3
	})
	cps := byNode(nodes[3].n.Locate(context.Background(), id))
	if len(cps) != 4 {
		t.Fatalf("Locate answered for %d members, want 4: %+v", len(cps), cps)
	}
	for name, cp := range cps {
		switch {
		case name == primary.name && (cp.Rank != 0 || cp.State != "live" || cp.Fields != 1 || cp.Deadline == 0):
			t.Errorf("primary %s: %+v", name, cp)
		case cp.Rank > 0 && cp.State != "live", cp.Rank < 0 && cp.State != "absent":
			t.Errorf("member %s: %+v", name, cp)
		}
	}
	// A member that cannot be asked is said to be unreachable, not to lack the session.
	other := nodes[0]
	if other == primary {
		other = nodes[1]
	}
	other.faults.Block(primary.repl)
	t.Cleanup(other.faults.Heal)
	if cp := byNode(other.n.Locate(context.Background(), id))[primary.name]; cp.State != "unreachable" || cp.Err == "" {
		t.Errorf("a blocked primary: %+v", cp)
	}
	other.faults.Heal()
	if _, err := doRetry(t, other.n, sessions.Command{Kind: sessions.KindEnd, Tenant: testTenant, ID: id}); err != nil {
		t.Fatal(err)
	}
	if cp := byNode(other.n.Locate(context.Background(), id))[primary.name]; cp.State != "ended" {
		t.Errorf("the primary's copy after END: %+v", cp)
	}
}
