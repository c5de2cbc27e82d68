package node

import (
	"context"

	"github.com/sessiongate/sessiongate/replica"
	"github.com/sessiongate/sessiongate/sessions"
)

// The replication of writes and the read leases are package replica's; this file ties it to
// the cluster: its view, its client and pool, its counters and lifetime.

// newReplicator makes the cluster's Replicator, which sends over the replication client.
func (c *cluster) newReplicator() *replica.Replicator {
	return replica.New(replica.Config{
		Self: c.cfg.Name, Acks: c.cfg.WriteAcks, ReadLease: c.cfg.ReadLease,
		ReadDelay: c.cfg.ReplicaReadDelay, Timeout: c.cfg.RPCTimeout,
		Sender: c.client, Pool: &c.pool, Life: c.life,
		View:    func() replica.View { return c.views.Load() },
		Syncing: func() bool { return c.mover.InProgress() > 0 },
		Dirty:   func(p int) { c.mover.MarkDirty(p) }, // anti-entropy repairs it first
		Local:   c.n.whenDurable(),

		Replicated: &c.n.stats.Replicated, ReplFailed: &c.n.stats.ReplFailed,
	})
}

// replicateBackground ships ops (idle expiries) without waiting; they are given up at
// shutdown.
func (c *cluster) replicateBackground(ops []sessions.Op) {
	v := c.views.Load()
	for p, ops := range v.ByPartition(ops) {
		go c.repl.Replicate(c.life, v, p, ops, "")
	}
}

// applyCarried merges the ops a primary returned with a forwarded write's answer: this
// node's copy, which the primary counted. It returns once they are durable (see disk.go).
func (c *cluster) applyCarried(ctx context.Context, ops []sessions.Op) error {
	if len(ops) == 0 {
		return nil
	}
	c.n.store.ApplyAll(ops)
	c.n.stats.Carried.Add(uint64(len(ops)))
	return c.n.durable(ctx)
}
