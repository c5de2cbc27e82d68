package node

import (
	"context"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/view"
	"github.com/sessiongate/sessiongate/wire"
)

// Forwarded commands run on the replication connection's reader goroutine when they wait on
// nothing but their own copies' acknowledgements: reads, and writes to a partition this node
// is primary of. A write runs on the store and sends its copies there, at once and in the
// order its frames came. If no acknowledgement it needs is missing (the node that forwarded
// it is a backup and needs no copy, replica.Carrier, and no other backup holds a read lease), it is
// answered there too. Otherwise its answer is deferred (replication.Deferred): whichever
// goroutine takes in the last acknowledgement it needs, or sees a lease or the deadline run
// out, sends it. No goroutine waits for it, so a forwarded write costs no hand-off to a
// worker and no wake-up. Anything that may wait on the network before it runs (a hand-over,
// a read repair, a further hop) still goes to a worker from the start.

// inlineOne runs a forwarded command here and now if it can, and reports whether it did. The
// response is the answer, or the Deferred that will give it.
func (c *cluster) inlineOne(ctx context.Context, req *wire.CommandMsg) (any, bool) {
	v := c.views.Load()
	p, ok := c.runsNowIn(v, &req.Cmd, time.Now())
	if !ok {
		return nil, false
	}
	if req.Cmd.Kind.Traits().Read {
		return wire.Answer(c.execute(ctx, v, p, &req.Cmd, req.Via)), true
	}
	cmds, out := []*sessions.Command{&req.Cmd}, make([]api.Outcome, 1)
	return c.inlineGroup(ctx, v, cmds, []int{p}, out, req.Via, req.Deadline, func() any {
		return wire.Answer(out[0].Result, out[0].Err)
	}), true
}

// inlineBatch is inlineOne for a forwarded batch: all of its commands run here as one group,
// or none does.
func (c *cluster) inlineBatch(ctx context.Context, req *wire.BatchMsg) (any, bool) {
	v, now := c.views.Load(), time.Now()
	cmds, ps := make([]*sessions.Command, len(req.Cmds)), make([]int, len(req.Cmds))
	for i := range req.Cmds {
		var ok bool
		if ps[i], ok = c.runsNowIn(v, &req.Cmds[i], now); !ok {
			return nil, false
		}
		cmds[i] = &req.Cmds[i]
	}
	out := make([]api.Outcome, len(cmds))
	return c.inlineGroup(ctx, v, cmds, ps, out, req.Via, req.Deadline, func() any {
		return wire.AnswerBatch(out)
	}), true
}

// inlineGroup runs cmds (of partitions ps) on the store and starts their replication. It
// returns answer's response when that needs no wait, or a Deferred that gives it once the
// replication is decided, or failed at the sender's deadline.
func (c *cluster) inlineGroup(ctx context.Context, v *view.View, cmds []*sessions.Command, ps []int, out []api.Outcome, via string, deadline int64, answer func() any) any {
	idx := make([]int, len(cmds))
	for i := range idx {
		idx[i] = i
	}
	g, f := c.startGroup(ctx, v, cmds, idx, ps, out, via)
	c.n.stats.InlineWrites.Add(uint64(g.Writes()))
	if f == nil || f.Done() {
		g.Finish(out)
		return answer()
	}
	c.n.stats.InlineWaits.Add(1)
	return replication.Deferred(func(reply func(any, error)) {
		ctx, cancel := c.forwardedCtx(ctx, deadline)
		f.WhenDone(ctx, func() {
			cancel()
			g.Finish(out)
			reply(answer(), nil)
		})
	})
}
