package node

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

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
		var req leaseMsg
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
// apply, and commands this node can run at once as primary (inline.go). A forwarded read
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
		var req leaseMsg
		if err := dec.Decode(&req); err != nil {
			return nil, true, err
		}
		c.repl.Granted(&req)
		return nil, true, nil
	case wire.Touch:
		var req touchMsg
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
