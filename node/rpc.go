package node

import (
	"context"
	"net"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/replication"
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

// handler serves the node-to-node calls (wire.Handler).
type handler struct{ c *cluster }

func (h handler) Forward(ctx context.Context, req *wire.CommandMsg) *wire.ResultMsg {
	if err := h.c.refused(req.Deadline); err != nil {
		return wire.Answer(sessions.Result{}, err)
	}
	ctx, cancel := h.c.forwardedCtx(ctx, req.Deadline)
	defer cancel()
	return wire.Answer(h.c.route(ctx, &req.Cmd, req.Hops, req.Via))
}

func (h handler) ForwardInline(ctx context.Context, req *wire.CommandMsg) (any, bool) {
	if err := h.c.refused(req.Deadline); err != nil {
		return wire.Answer(sessions.Result{}, err), true
	}
	return h.c.inlineOne(ctx, req)
}

func (h handler) ForwardBatch(ctx context.Context, req *wire.BatchMsg) *wire.BatchResultMsg {
	return h.c.serveBatch(ctx, req)
}

func (h handler) ForwardBatchInline(ctx context.Context, req *wire.BatchMsg) (any, bool) {
	if err := h.c.refused(req.Deadline); err != nil {
		return wire.AnswerAll(len(req.Cmds), err), true
	}
	return h.c.inlineBatch(ctx, req)
}

func (h handler) Scatter(ctx context.Context, req *wire.CommandMsg) *wire.ResultMsg {
	if err := h.c.refused(0); err != nil {
		return wire.Answer(sessions.Result{}, err)
	}
	return wire.Answer(h.c.executeScatter(ctx, h.c.views.Load(), &req.Cmd))
}

func (h handler) Apply(ops []sessions.Op) (any, error) { return h.c.n.applyCopy(ops) }

// ApplyFailed: a copy this node cannot apply, so it may not answer from its copies.
func (h handler) ApplyFailed() { h.c.repl.DropAll() }

func (h handler) LeaseAsk(ctx context.Context, req *wire.LeaseMsg) { h.c.repl.Grant(ctx, req) }
func (h handler) LeaseGrant(req *wire.LeaseMsg)                    { h.c.repl.Granted(req) }

func (c *cluster) clientConfig() replication.ClientConfig {
	cc := replication.ClientConfig{DialTimeout: c.cfg.RPCTimeout, Security: c.security()}
	if c.cfg.Dial != nil {
		dial := c.cfg.Dial
		cc.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return dial("tcp", addr) }
	}
	return cc
}

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
		return api.TryAgainf("node %s is starting and has not joined the cluster yet", c.cfg.Name)
	}
	return c.overdue(deadline)
}

// overdue returns an error when a forwarded command with this deadline arrived too late to run.
func (c *cluster) overdue(deadline int64) error {
	if deadline == 0 || c.cfg.ClockSkew < 0 {
		return nil
	}
	if late := time.Now().UnixMilli() - deadline; late > c.cfg.ClockSkew.Milliseconds() {
		return api.TryAgainf("forwarded command arrived %dms after its sender stopped waiting; not run", late)
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

func (h handler) Sharing() error { return h.c.n.starting() }
