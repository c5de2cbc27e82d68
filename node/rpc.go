package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vmihailenco/msgpack/v5"

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

// errOf is the error a forwarded command's answer carries, or nil.
func errOf(m *wire.ResultMsg) error {
	switch {
	case m.Code != 0:
		return &sessions.Error{Code: m.Code, Max: m.Max}
	case m.Msg != "":
		return &clusterError{m.Msg}
	}
	return nil
}

func resultOf(res sessions.Result, err error) *wire.ResultMsg {
	m := &wire.ResultMsg{Result: res, Ops: res.Ops}
	m.Result.Ops = nil
	var se *sessions.Error
	var ce *clusterError
	switch {
	case err == nil:
	case errors.As(err, &se):
		m.Code, m.Max = se.Code, se.Max
	case errors.As(err, &ce):
		m.Msg = ce.msg
	default:
		m.Msg = "TRYAGAIN " + err.Error()
	}
	return m
}

// handler serves the node-to-node methods.
type handler struct{ c *cluster }

func (h handler) ServeCall(ctx context.Context, m replication.Method, dec *msgpack.Decoder) (any, error) {
	c := h.c
	switch m {
	case wire.Forward, wire.Scatter:
		var req wire.CommandMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		if m == wire.Scatter {
			if err := c.refused(0); err != nil {
				return resultOf(sessions.Result{}, err), nil
			}
			return resultOf(c.executeScatter(ctx, c.view.Load(), &req.Cmd)), nil
		}
		if err := c.refused(req.Deadline); err != nil {
			return resultOf(sessions.Result{}, err), nil
		}
		ctx, cancel := c.forwardedCtx(ctx, req.Deadline)
		defer cancel()
		return resultOf(c.route(ctx, &req.Cmd, req.Hops, req.Via)), nil
	case wire.ForwardBatch:
		var req wire.BatchMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		return c.serveBatch(ctx, &req), nil
	case wire.Apply:
		var req wire.OpsMsg
		if err := dec.Decode(&req); err != nil {
			c.repl.DropAll() // a copy this node cannot apply: it may not answer from its copies
			return nil, err
		}
		for i := range req.Ops {
			c.n.store.Apply(&req.Ops[i])
		}
		c.n.stats.Applied.Add(uint64(len(req.Ops)))
		return nil, nil
	case wire.Pull:
		var req wire.PullMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		if req.Slot < 0 || req.Slot >= sessions.Slots {
			return nil, fmt.Errorf("slot %d out of range", req.Slot)
		}
		var resp wire.OpsMsg
		c.n.store.SlotOps(req.Slot, func(op *sessions.Op) { resp.Ops = append(resp.Ops, *op) })
		return &resp, nil
	case wire.Fetch:
		var req wire.FetchMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		return &wire.OpsMsg{Ops: c.n.store.ExportChain(req.ID)}, nil
	case wire.LeaseAsk:
		var req wire.LeaseMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		c.repl.Grant(ctx, &req)
		return nil, nil
	case wire.Digest:
		var req wire.DigestMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		slots := make([]int, len(req.Slots))
		for i, s := range req.Slots {
			slots[i] = int(s)
		}
		return &wire.DigestMsg{Digests: c.n.store.SlotDigests(slots)}, nil
	}
	return nil, fmt.Errorf("unknown method %d", m)
}

func (c *cluster) clientConfig() replication.ClientConfig {
	cc := replication.ClientConfig{DialTimeout: c.cfg.RPCTimeout, Security: c.security()}
	if c.cfg.Dial != nil {
		dial := c.cfg.Dial
		cc.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return dial("tcp", addr) }
	}
	return cc
}

// ServeInline answers on the connection's reader the calls that wait on nothing: copies to
// apply, and commands this node can run at once as primary (inlineOne). A forwarded read
// skips two goroutine hand-offs that way, a write the hand-off to a worker and the wake-up
// when its acknowledgement comes; anything that may wait before it runs (a hand-over, a
// read repair, a further hop) goes to a worker, so it cannot hold up the connection.
func (h handler) ServeInline(ctx context.Context, m replication.Method, dec *msgpack.Decoder) (any, bool, error) {
	c := h.c
	switch m {
	case wire.Apply:
		resp, err := h.ServeCall(ctx, m, dec)
		return resp, true, err
	case wire.LeaseGrant:
		// Inline, like copies, so that it takes effect after every copy sent before it.
		var req wire.LeaseMsg
		if err := dec.Decode(&req); err != nil {
			return nil, true, err
		}
		c.repl.Granted(&req)
		return nil, true, nil
	case wire.Touch:
		var req wire.TouchMsg
		if err := dec.Decode(&req); err != nil {
			return nil, true, err
		}
		if len(req.IDs) != len(req.At)*sessions.IDLen {
			return nil, true, fmt.Errorf("touch: %d bytes of ids for %d times", len(req.IDs), len(req.At))
		}
		for i, at := range req.At {
			c.n.store.Touch(sessions.ID(req.IDs[i*sessions.IDLen:]), at, 1)
		}
		return nil, true, nil
	case wire.Forward:
		var req wire.CommandMsg
		if err := dec.Decode(&req); err != nil {
			return nil, true, err
		}
		if err := c.refused(req.Deadline); err != nil {
			return resultOf(sessions.Result{}, err), true, nil
		}
		resp, ok := c.inlineOne(ctx, &req)
		return resp, ok, nil
	case wire.ForwardBatch:
		var req wire.BatchMsg
		if err := dec.Decode(&req); err != nil {
			return nil, true, err
		}
		if err := c.refused(req.Deadline); err != nil {
			return overdueBatch(len(req.Cmds), err), true, nil
		}
		resp, ok := c.inlineBatch(ctx, &req)
		return resp, ok, nil
	}
	return nil, false, nil
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
