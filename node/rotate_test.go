package node

import (
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// A network partition: the cut-off node keeps serving (availability over consistency) and
// acknowledges writes to sessions that the other side rotates meanwhile. Once the partition
// heals, those writes are found under the new ids on every node; before rotations were linked,
// the old ids' tombstones absorbed them and they were lost.
func TestWritesAcrossAPartitionFollowARotation(t *testing.T) {
	nodes := startCluster(t, 3, withAntiEntropy(500*time.Millisecond))
	ids := writeSessions(t, nodes, 30)
	iso := nodes[2]
	cutOff(iso, nodes[:2])
	waitMembers(t, nodes[:2], 2)
	waitMembers(t, nodes[2:], 1)

	newIDs := make([]sessions.ID, len(ids))
	for i, id := range ids {
		if _, err := doRetry(t, iso.n, sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id,
			Name: []byte("cart"), Data: []byte("cut-off " + id.String())}); err != nil {
			t.Fatalf("write on the cut-off node: %v", err)
		}
		newIDs[i] = newID(t, id.Slot())
		if _, err := doRetry(t, nodes[i%2].n, sessions.Command{Kind: sessions.KindRotate, Tenant: testTenant, ID: id,
			NewID: newIDs[i]}); err != nil {
			t.Fatalf("rotate on the majority side: %v", err)
		}
	}

	for _, tn := range nodes {
		tn.faults.Heal()
	}
	waitMembers(t, nodes, 3)
	waitSettled(t, nodes)
	for _, tn := range nodes {
		for i, nid := range newIDs {
			want := "cut-off " + ids[i].String()
			eventually(t, 10*time.Second, "the cut-off side's write under the rotated id via "+tn.name, func() bool {
				res, err := doRetry(t, tn.n, sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: nid, Name: []byte("cart")})
				return err == nil && string(res.Data) == want
			})
			res, err := doRetry(t, tn.n, sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: nid, Name: []byte("v")})
			if err != nil || string(res.Data) != ids[i].String() {
				t.Fatalf("rotated id's first payload via %s: %q %v", tn.name, res.Data, err)
			}
		}
	}
}
