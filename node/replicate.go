package node

import (
	"context"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// replicate sends ops to the partition's backups and returns once the write-acks policy is
// met and every backup holding a read lease has applied them (or its lease ran out), or a
// retryable error once that cannot be. Copies are queued on the caller's goroutine and
// answered by callback; those still in flight when it returns go on in the background.
// carrier, when not empty, is a backup that gets the ops in the answer to the command it
// forwarded instead of a copy (via.go): it counts as acknowledged and is not waited for.
func (c *cluster) replicate(ctx context.Context, v *view, p int, ops []sessions.Op, carrier string) error {
	set := v.ring.Replicas(p)
	backups := set[1:]
	if len(backups) == 0 {
		return nil
	}
	need := c.cfg.WriteAcks.needed(len(set)) - 1
	acked := 0
	type ack struct {
		i   int
		err error
	}
	results := make(chan ack, len(backups))
	lease := make([]int64, len(backups)) // when a backup's lease runs out; 0: holds none
	msg := opsMsg{Ops: ops}
	for i, b := range backups {
		if b == carrier {
			acked++
			c.n.stats.Replicated.Add(uint64(len(ops)))
			continue
		}
		g, addr := c.leases.grantee(b), v.members[b].Repl
		done := func(err error) {
			c.n.stats.Replicated.Add(uint64(len(ops)))
			if err != nil {
				c.n.stats.ReplFailed.Add(uint64(len(ops)))
				c.dirty[p].Store(true)
				g.failedAt.Store(c.leases.now())
			}
			results <- ack{i, err}
		}
		// Under g.send, so that a lease granted after this point finds the copy queued ahead.
		g.send.Lock()
		if until := g.until.Load(); until > c.leases.now() {
			lease[i] = until
		}
		if c.client.Connected(addr) {
			c.client.Go(context.Background(), addr, methodApply, &msg, c.cfg.RPCTimeout, done)
		} else {
			// A dial may take the RPC timeout (a cut-off peer): not on this path, where it
			// would hold up the copies to the other backups. No lease is granted meanwhile.
			g.connecting.Add(1)
			c.pool.Go(func() {
				c.client.Go(context.Background(), addr, methodApply, &msg, c.cfg.RPCTimeout, done)
				g.connecting.Add(-1)
			})
		}
		g.send.Unlock()
	}
	failed, leased := 0, 0
	for _, u := range lease {
		if u != 0 {
			leased++
		}
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for acked < need || leased > 0 {
		// Wake when the first outstanding lease runs out: its holder no longer counts.
		var expiry <-chan time.Time
		if leased > 0 {
			first := int64(0)
			for _, u := range lease {
				if u != 0 && (first == 0 || u < first) {
					first = u
				}
			}
			wait := time.Duration(first-c.leases.now()) + time.Millisecond
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			expiry = timer.C
		}
		select {
		case a := <-results:
			if a.err == nil {
				acked++
				if lease[a.i] != 0 {
					lease[a.i], leased = 0, leased-1
				}
				continue
			}
			failed++ // a leased backup that failed still counts until its lease runs out
			if len(backups)-failed < need {
				return tryAgain("write reached %d of %d replicas of partition %d; %s needs %d",
					acked+1, len(set), p, c.cfg.WriteAcks, need+1)
			}
		case <-expiry:
			now := c.leases.now()
			for i, u := range lease {
				if u != 0 && u <= now {
					lease[i], leased = 0, leased-1
					c.leases.grantee(backups[i]).failedAt.Store(now) // no new lease until in sync
				}
			}
		case <-ctx.Done():
			return tryAgain("write reached %d of %d replicas of partition %d before the deadline; %s needs %d",
				acked+1, len(set), p, c.cfg.WriteAcks, need+1)
		}
	}
	if wait := c.leases.fenceWait(); wait > 0 {
		// Just after a view change: a backup still on the old view may hold a lease.
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return tryAgain("partition %d: waiting out the read leases of the previous view", p)
		}
	}
	return nil
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
