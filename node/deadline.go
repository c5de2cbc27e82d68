package node

import (
	"context"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// A forwarded command carries the wall-clock time at which its sender stops waiting for it.
// A primary that receives it later than that (by more than ClockSkew, for clocks that do not
// quite agree) refuses it instead of running it. The sender has already told its client that
// the outcome is unknown; a write run now would be stamped now and could overwrite writes
// acknowledged since (a request held up by a cut-off or paused node, or behind a hand-over,
// is what the chaos report counts as a "late" write). The primary's own waits end at the
// same time (plus ClockSkew), and execute runs nothing whose context has ended.

// deadlineOf is ctx's deadline in unix milliseconds, or 0 when it has none.
func deadlineOf(ctx context.Context) int64 {
	if d, ok := ctx.Deadline(); ok {
		return d.UnixMilli()
	}
	return 0
}

// refused returns why a forwarded command (or batch) with this deadline may not run here:
// the node has not joined yet (see cluster.joined), or the command came too late.
func (c *cluster) refused(deadline int64) error {
	if !c.joined.Load() {
		return tryAgain("node %s is starting and has not joined the cluster yet", c.cfg.Name)
	}
	return c.overdue(deadline)
}

// overdue returns an error when a forwarded command with this deadline arrived too late to run.
func (c *cluster) overdue(deadline int64) error {
	if deadline == 0 || c.cfg.ClockSkew < 0 {
		return nil
	}
	if late := time.Now().UnixMilli() - deadline; late > c.cfg.ClockSkew.Milliseconds() {
		return tryAgain("forwarded command arrived %dms after its sender stopped waiting; not run", late)
	}
	return nil
}

// forwardedCtx bounds the handling of a forwarded command by the command timeout and by
// its sender's deadline (plus ClockSkew).
func (c *cluster) forwardedCtx(ctx context.Context, deadline int64) (context.Context, context.CancelFunc) {
	end := time.Now().Add(c.cfg.CommandTimeout)
	if deadline != 0 && c.cfg.ClockSkew >= 0 {
		if sender := time.UnixMilli(deadline).Add(c.cfg.ClockSkew); sender.Before(end) {
			end = sender
		}
	}
	return context.WithDeadline(ctx, end)
}

// overdueBatch answers every command of a batch that arrived too late with the same error.
func overdueBatch(n int, err error) *wire.BatchResultMsg {
	resp := &wire.BatchResultMsg{Results: make([]wire.ResultMsg, n)}
	for i := range resp.Results {
		resp.Results[i] = *resultOf(sessions.Result{}, err)
	}
	return resp
}
