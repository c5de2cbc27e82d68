package node

import (
	"context"
	"slices"
	"time"

	"github.com/sessiongate/sessiongate/replica"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// A write that a backup forwards to its primary comes back with its ops, and the backup
// applies them before it answers its client: that answer is its copy. The primary counts the
// backup as acknowledged without sending it a copy or waiting for it (its client cannot hear
// of the write before the backup applied it), which saves the forwarding node a copy and an
// acknowledgement per write: half the messages it handles for one.
//
// What it needs in return: a backup whose forwarded call fails (a timeout, a lost connection)
// may lack a write the primary made, and nobody else knows. It drops its read lease from that
// primary at once, ignores grants to requests it made before, and counts the miss; its next
// lease request carries the count, and a primary that sees it change grants no lease until an
// anti-entropy round that started afterwards found the backup in sync (replica.Replicator's
// Missed). Without that, a retried END that finds nothing left to end would leave the session
// readable there.

// The replication of writes and the read leases are package replica's; this file ties it to
// the cluster: its view, its client and pool, its counters and lifetime.

// newReplicator makes the cluster's Replicator, which sends over the replication client.
func (c *cluster) newReplicator() *replica.Replicator {
	return replica.New(replica.Config{
		Self: c.cfg.Name, Acks: c.cfg.WriteAcks, ReadLease: c.cfg.ReadLease,
		ReadDelay: c.cfg.ReplicaReadDelay, Timeout: c.cfg.RPCTimeout,
		Methods: replica.Methods{Apply: wire.Apply, LeaseAsk: wire.LeaseAsk, LeaseGrant: wire.LeaseGrant, Touch: wire.Touch},
		Sender:  c.client, Pool: &c.pool, Life: c.life,
		View:     func() replica.View { return c.view.Load() },
		Syncing:  func() bool { return c.mover.InProgress() > 0 },
		Dirty:    c.markDirty,
		TryAgain: tryAgain,

		Replicated: &c.n.stats.Replicated, ReplFailed: &c.n.stats.ReplFailed,
	})
}

// A view is a replica.View.
func (v *view) Version() uint64         { return v.ring.Version() }
func (v *view) Partitions() int         { return v.ring.Partitions() }
func (v *view) Replicas(p int) []string { return v.ring.Replicas(p) }
func (v *view) Since() time.Time        { return v.since }
func (v *view) Addr(member string) (string, bool) {
	m, ok := v.members[member]
	return m.Repl, ok
}

// replicate sends ops to the partition's backups and returns once the write-acks policy is
// met and every backup holding a read lease has applied them (or its lease ran out), or a
// retryable error once that cannot be (replica.Replicator.Replicate).
func (c *cluster) replicate(ctx context.Context, v *view, p int, ops []sessions.Op, carrier string) error {
	return c.repl.Replicate(ctx, v, p, ops, carrier)
}

// replicateBackground ships ops (idle expiries) without waiting; they are given up at
// shutdown.
func (c *cluster) replicateBackground(ops []sessions.Op) {
	v := c.view.Load()
	byPart := map[int][]sessions.Op{}
	for _, op := range ops {
		p := v.ring.PartitionOfSlot(op.Slot())
		byPart[p] = append(byPart[p], op)
	}
	for p, ops := range byPart {
		go c.replicate(c.life, v, p, ops, "")
	}
}

// markDirty notes that a backup of partition p missed a copy: anti-entropy repairs it first.
func (c *cluster) markDirty(p int) { c.mover.MarkDirty(p) }

// carrier returns via when it is a backup of partition p in view v: the node that gets the
// ops of a write in its answer instead of a copy.
func (c *cluster) carrier(v *view, p int, via string) string {
	if via == "" || via == c.cfg.Name || !slices.Contains(v.ring.Replicas(p)[1:], via) {
		return ""
	}
	return via
}

// applyCarried merges the ops a primary returned with a forwarded write's answer.
func (c *cluster) applyCarried(ops []sessions.Op) {
	for i := range ops {
		c.n.store.Apply(&ops[i])
	}
	c.n.stats.Carried.Add(uint64(len(ops)))
}
