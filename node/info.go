package node

import (
	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/view"
)

// ClusterView returns a snapshot of the cluster, or nil when the node runs alone.
func (n *Node) ClusterView() *api.ClusterView {
	c := n.cluster
	if c == nil {
		return nil
	}
	v := c.views.Load()
	cv := &api.ClusterView{
		Self: c.cfg.Name, Replicas: c.cfg.Replicas, WriteAcks: c.cfg.WriteAcks.String(),
		SyncsInProgress: c.mover.InProgress(), LastSyncMs: c.mover.LastSyncMs(), Repairs: c.mover.Repairs(),
		LeasesHeld: c.repl.LeasesHeld(v.Version(), v.Names()),
	}
	cv.Partitions, cv.Members = v.Report(c.cfg.Name, view.Health{Replicas: c.cfg.Replicas, Dirty: c.mover.Dirty, Pulling: c.mover.Pulling})
	return cv
}
