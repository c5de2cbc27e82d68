package node

import (
	"slices"

	"github.com/sessiongate/sessiongate/sessions"
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
