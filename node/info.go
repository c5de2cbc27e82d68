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

// Persistence reports the node's data directory, or nil when it keeps memory only.
func (n *Node) Persistence() *api.Persistence {
	if n.disk == nil {
		return nil
	}
	st := n.disk.Stats()
	p := &api.Persistence{Fsync: st.Sync.String(), LogRecords: st.Log.Records, LogBytes: st.Log.Bytes,
		LogWrites: st.Log.Writes, Fsyncs: st.Log.Fsyncs, FsyncTime: st.Log.FsyncTime, Snapshots: st.Snapshots,
		Loaded: n.loaded.Sessions, LoadTook: n.loaded.Took}
	if st.Err != nil {
		p.Refused = st.Err.Error()
	}
	if st.Last != nil {
		p.LastSnapshot, p.SnapshotBytes, p.SnapshotTook = st.Last.At, st.Last.Bytes, st.Last.Took
	}
	return p
}
