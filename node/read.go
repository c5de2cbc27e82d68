package node

import (
	"context"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/view"
)

// Read leases (package replica) let a backup answer reads from its own copy instead of
// forwarding them to the primary, without reads going back in time while the cluster is
// steady.
//
// What a backup answers from its copy: PGET, PGETALL and TTL hits on sessions without an idle
// timeout; misses, errors and everything else go to the primary. The reads it answers are sent
// to the primary in batches (touches), which keeps read counts and last-seen times there.

// readNow answers cmd if it is a read this node serves without waiting on anything: as its
// primary (servesNow), or from its copy under a read lease. Otherwise ok is false and cmd
// takes the routed path, which may forward it or wait.
// now is the clock reading to judge by (a pipeline's reads share one); the store reads at it
// too unless cmd carries a reading of its own.
func (c *cluster) readNow(ctx context.Context, cmd *sessions.Command, now time.Time) (o api.Outcome, ok bool) {
	if !cmd.Kind.Traits().Read {
		return o, false
	}
	if cmd.At == 0 {
		cmd.At = now.UnixMilli()
		defer func() { cmd.At = 0 }() // the caller's command, which it may use again
	}
	if v, p, ok := c.servesNow(cmd, now); ok {
		o.Result, o.Err = c.execute(ctx, v, p, cmd, "")
		return o, true
	}
	v := c.views.Load()
	p, primary := v.PrimaryOf(cmd.Slot())
	o.Result, ok = c.copyRead(v, p, primary, cmd, now)
	return o, ok
}

// servesNow reports whether cmd is a read this node can answer at once as its primary, and
// in which view and partition: the partition is not being handed over, and no read repair can
// follow a miss (that needs the network). Reads produce no ops, so nothing is replicated.
func (c *cluster) servesNow(cmd *sessions.Command, now time.Time) (*view.View, int, bool) {
	if !cmd.Kind.Traits().Read {
		return nil, 0, false
	}
	v := c.views.Load()
	p, ok := c.runsNowIn(v, cmd, now)
	return v, p, ok
}

// runsNowIn reports whether cmd's partition in view v is this node's to run at once: it is
// its primary, the partition is ready, and the view is past its repair window (so that no
// read repair, which waits on other nodes, can come up). It returns the partition.
func (c *cluster) runsNowIn(v *view.View, cmd *sessions.Command, now time.Time) (int, bool) {
	if cmd.Kind.IsScatter() || now.Sub(v.Since()) < repairWindow {
		return 0, false
	}
	p, primary := v.PrimaryOf(cmd.Slot())
	if primary != c.cfg.Name {
		return 0, false
	}
	select {
	case <-v.Ready(p):
		return p, true
	default:
		return 0, false
	}
}

// copyRead answers cmd from this node's copy when it holds a lease from the partition's
// primary and the copy has the answer. now is the clock reading to judge by: a pipeline's
// reads share one (readNow also hands it to the store, as Command.At).
func (c *cluster) copyRead(v *view.View, p int, primary string, cmd *sessions.Command, now time.Time) (sessions.Result, bool) {
	if !c.copyReadable(v, p, primary, cmd, now) {
		return sessions.Result{}, false
	}
	res, ok := c.n.store.ReadCopy(cmd)
	if !ok {
		return res, false
	}
	c.n.stats.CopyReads.Add(1)
	if sessions.Touches(cmd.Kind) {
		c.repl.Touch(primary, cmd.ID, now.UnixMilli())
	}
	return res, true
}

// copyReadable reports whether cmd may be tried on this node's copy of partition p.
func (c *cluster) copyReadable(v *view.View, p int, primary string, cmd *sessions.Command, now time.Time) bool {
	return cmd.Kind.Traits().CopyRead && c.repl.Readable(v, p, primary, now)
}
