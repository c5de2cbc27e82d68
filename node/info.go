package node

import (
	"slices"

	"github.com/sessiongate/sessiongate/api"
)

// ClusterView returns a snapshot of the cluster, or nil when the node runs alone.
func (n *Node) ClusterView() *api.ClusterView {
	c := n.cluster
	if c == nil {
		return nil
	}
	v := c.view.Load()
	cv := &api.ClusterView{
		Self: c.cfg.Name, Replicas: c.cfg.Replicas, WriteAcks: c.cfg.WriteAcks.String(),
		SyncsInProgress: c.mover.InProgress(), LastSyncMs: c.mover.LastSyncMs(), Repairs: c.mover.Repairs(),
		LeasesHeld: c.leasesHeld(),
	}
	counts := map[string][2]int{}
	for p := 0; p < v.ring.Partitions(); p++ {
		set := v.ring.Replicas(p)
		pi := api.PartitionInfo{Partition: p, Replicas: slices.Clone(set)}
		select {
		case <-v.ready[p]:
		default:
			pi.Syncing = true
		}
		// Only a primary keeps the dirty flag of a partition (its backups missed a write).
		pi.UnderReplicated = pi.Syncing || len(set) < c.cfg.Replicas || set[0] == c.cfg.Name && c.mover.Dirty(p) ||
			c.mover.Pulling(p) && slices.Contains(set, c.cfg.Name) // a backup's copy still filling
		for i, m := range set {
			if v.members[m].State != "alive" {
				pi.UnderReplicated = true
			}
			k := counts[m]
			if i == 0 {
				k[0]++
			}
			k[1]++
			counts[m] = k
		}
		cv.Partitions = append(cv.Partitions, pi)
	}
	for _, m := range v.members {
		cv.Members = append(cv.Members, api.Member{Name: m.Name, State: m.State, Gossip: m.Gossip, Repl: m.Repl,
			RESP: m.RESP, Primary: counts[m.Name][0], Held: counts[m.Name][1]})
	}
	slices.SortFunc(cv.Members, func(a, b api.Member) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return cv
}
