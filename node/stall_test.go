package node

import (
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// oldEverywhere starts a session whose primary is n0 and waits until every node holds its
// payload v = "old" (the slower backup's copy may still be on its way after the ack).
func oldEverywhere(t *testing.T, nodes []*testNode) sessions.ID {
	t.Helper()
	var id sessions.ID
	for id = newID(t, -1); primaryOf(nodes[0], id) != "n0"; id = newID(t, -1) {
	}
	if _, err := doRetry(t, nodes[0].n, sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: id, TTL: 3600}); err != nil {
		t.Fatal(err)
	}
	if _, err := doRetry(t, nodes[0].n, sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "every replica to hold the old write", func() bool {
		for _, tn := range nodes {
			r, err := tn.n.Store().Do(&sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
			if err != nil || string(r.Data) != "old" {
				return false
			}
		}
		return true
	})
	return id
}

// Regression (chaos, pause: a ROTATE on a node just unpaused copied a payload one
// acknowledged write old, and the newer write was lost with the old token): a node frozen
// past failure detection sees no view change, so it served stale copies at once. After a
// stall it now pulls its primary partitions from every live member before serving them.
func TestStalledPrimaryResyncsBeforeServing(t *testing.T) {
	nodes := startCluster(t, 3, withAntiEntropy(time.Hour))
	id := oldEverywhere(t, nodes)
	// While n0 was frozen, a stand-in primary took a newer write that reached n1 and n2 only.
	res, err := nodes[1].n.Store().Do(&sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte("new")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range res.Ops {
		nodes[2].n.Store().Apply(&res.Ops[i])
	}
	// n0 wakes up: its watchdog last ran five seconds ago.
	c := nodes[0].n.cluster
	c.watch.Backdate(5 * time.Second)
	got, err := doRetry(t, nodes[0].n, sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
	if err != nil || string(got.Data) != "new" {
		t.Fatalf("n0 after its stall read %q, %v; want the stand-in's newer write", got.Data, err)
	}
}

// Regression (chaos, rolling restart: a ROTATE on a just-rejoined primary copied a payload one
// acknowledged write old, and the newer write was lost with the old token): right after a
// view change, a former primary may hold a write the new primary has not pulled yet. ROTATE
// now asks every member for the session first.
func TestRotateAfterViewChangeCopiesTheNewestWrite(t *testing.T) {
	nodes := startCluster(t, 3, withAntiEntropy(time.Hour))
	id := oldEverywhere(t, nodes)
	// A former primary (n1) took a newer write that has not reached n0.
	if _, err := nodes[1].n.Store().Do(&sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	nid := newID(t, id.Slot())
	if _, err := doRetry(t, nodes[0].n, sessions.Command{Kind: sessions.KindRotate, Tenant: testTenant, ID: id, NewID: nid}); err != nil {
		t.Fatal(err)
	}
	got, err := doRetry(t, nodes[0].n, sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: nid, Name: []byte("v")})
	if err != nil || string(got.Data) != "new" {
		t.Fatalf("the rotated session holds %q, %v; want the newer write", got.Data, err)
	}
}
