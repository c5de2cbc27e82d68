package node

import (
	"context"

	"github.com/sessiongate/sessiongate/sessions"
)

// partOps is one partition's share of the ops to replicate: one write's, or those of every
// write a pipeline made there.
type partOps struct {
	p   int
	ops []sessions.Op
	// carrier, when not empty, is a backup that gets the ops in the answer to the commands it
	// forwarded instead of a copy (via.go): it counts as acknowledged and is not waited for.
	carrier string
}

// replicate sends ops to the partition's backups and returns once the write-acks policy is
// met and every backup holding a read lease has applied them (or its lease ran out), or a
// retryable error once that cannot be. Copies are queued on the caller's goroutine and
// answered by callback; those still in flight when it returns go on in the background.
func (c *cluster) replicate(ctx context.Context, v *view, p int, ops []sessions.Op, carrier string) error {
	f := c.startReplication(v, []partOps{{p: p, ops: ops, carrier: carrier}})
	f.wait(ctx)
	return f.errs[0]
}

// sendCopy queues one backup's copy and notes the lease it held when the copy was queued.
// done is called once with the copy's outcome, on whatever goroutine learns it.
func (c *cluster) sendCopy(v *view, i int, t *copyTarget, parts []partOps, done func(int, error)) {
	g, addr := c.leases.grantee(t.name), v.members[t.name].Repl
	n := uint64(len(t.ops))
	answered := func(err error) {
		c.n.stats.Replicated.Add(n)
		if err != nil {
			c.n.stats.ReplFailed.Add(n)
			for _, k := range t.parts {
				c.mover.MarkDirty(parts[k].p)
			}
			g.failedAt.Store(c.leases.now())
		}
		done(i, err)
	}
	msg := &opsMsg{Ops: t.ops}
	// Under g.send, so that a lease granted after this point finds the copy queued ahead.
	g.send.Lock()
	defer g.send.Unlock()
	if until := g.until.Load(); until > c.leases.now() {
		t.lease = until
	}
	if c.client.Connected(addr) {
		c.client.Go(context.Background(), addr, methodApply, msg, c.cfg.RPCTimeout, answered)
		return
	}
	// A dial may take the RPC timeout (a cut-off peer): not on this path, where it would hold
	// up the copies to the other backups. No lease is granted meanwhile.
	g.connecting.Add(1)
	c.pool.Go(func() {
		c.client.Go(context.Background(), addr, methodApply, msg, c.cfg.RPCTimeout, answered)
		g.connecting.Add(-1)
	})
}

// replicateBackground ships ops (idle expiries) without waiting.
func (c *cluster) replicateBackground(ops []sessions.Op) {
	v := c.view.Load()
	byPart := map[int][]sessions.Op{}
	for _, op := range ops {
		p := v.ring.PartitionOfSlot(op.Slot())
		byPart[p] = append(byPart[p], op)
	}
	for p, ops := range byPart {
		go c.replicate(context.Background(), v, p, ops, "")
	}
}
