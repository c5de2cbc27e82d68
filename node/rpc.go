package node

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
)

// The node-to-node methods.
const (
	methodForward      replication.Method = iota + 1 // run a command as primary
	methodScatter                                    // run a tenant-wide command over some slots
	methodApply                                      // merge ops (replication, hand-off, repair)
	methodPull                                       // full copy of one slot
	methodFetch                                      // full copy of one session
	methodDigest                                     // digests of some slots
	methodForwardBatch                               // run several commands as primary
	methodLeaseAsk                                   // a backup asks its primary for a read lease
	methodLeaseGrant                                 // a primary grants one, behind its copies
	methodTouch                                      // reads a backup answered from its copy
)

type commandMsg struct {
	Cmd  sessions.Command `msgpack:"c"`
	Hops int              `msgpack:"h"`
	// Via names the node the client sent the command to, when it forwards it itself: a
	// primary that finds it among the partition's backups answers with the write's ops
	// instead of sending it a copy (via.go).
	Via string `msgpack:"v,omitempty"`
	// Deadline is when the sender stops waiting, in unix milliseconds (deadline.go).
	Deadline int64 `msgpack:"dl,omitempty"`
}

// resultMsg carries a command's result, or its error as a code: store errors keep their
// code and limit, cluster errors their text.
type resultMsg struct {
	Result sessions.Result `msgpack:"r"`
	Code   sessions.Code   `msgpack:"c,omitempty"`
	Max    int             `msgpack:"m,omitempty"`
	Msg    string          `msgpack:"e,omitempty"`
	// Ops is what the command changed, for a Via node that is a backup: it applies them
	// before answering its client, and that is its copy.
	Ops []sessions.Op `msgpack:"o,omitempty"`
}

func (m *resultMsg) err() error {
	switch {
	case m.Code != 0:
		return &sessions.Error{Code: m.Code, Max: m.Max}
	case m.Msg != "":
		return &clusterError{m.Msg}
	}
	return nil
}

func resultOf(res sessions.Result, err error) *resultMsg {
	m := &resultMsg{Result: res, Ops: res.Ops}
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

type opsMsg struct {
	Ops []sessions.Op `msgpack:"o"`
}

type pullMsg struct {
	Slot int `msgpack:"s"`
}

type fetchMsg struct {
	ID sessions.ID `msgpack:"i"`
}

type digestMsg struct {
	Slots   []uint16 `msgpack:"s"`
	Digests []uint64 `msgpack:"d,omitempty"`
}

// handler serves the node-to-node methods.
type handler struct{ c *cluster }

func (h handler) ServeCall(ctx context.Context, m replication.Method, dec *msgpack.Decoder) (any, error) {
	c := h.c
	switch m {
	case methodForward, methodScatter:
		var req commandMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		if m == methodScatter {
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
	case methodForwardBatch:
		var req batchMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		return c.serveBatch(ctx, &req), nil
	case methodApply:
		var req opsMsg
		if err := dec.Decode(&req); err != nil {
			c.repl.DropAll() // a copy this node cannot apply: it may not answer from its copies
			return nil, err
		}
		for i := range req.Ops {
			c.n.store.Apply(&req.Ops[i])
		}
		c.n.stats.Applied.Add(uint64(len(req.Ops)))
		return nil, nil
	case methodPull:
		var req pullMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		if req.Slot < 0 || req.Slot >= sessions.Slots {
			return nil, fmt.Errorf("slot %d out of range", req.Slot)
		}
		var resp opsMsg
		c.n.store.SlotOps(req.Slot, func(op *sessions.Op) { resp.Ops = append(resp.Ops, *op) })
		return &resp, nil
	case methodFetch:
		var req fetchMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		return &opsMsg{Ops: c.n.store.ExportChain(req.ID)}, nil
	case methodLeaseAsk:
		var req leaseMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		c.repl.Grant(ctx, &req)
		return nil, nil
	case methodDigest:
		var req digestMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		slots := make([]int, len(req.Slots))
		for i, s := range req.Slots {
			slots[i] = int(s)
		}
		return &digestMsg{Digests: c.n.store.SlotDigests(slots)}, nil
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
	case methodApply:
		resp, err := h.ServeCall(ctx, m, dec)
		return resp, true, err
	case methodLeaseGrant:
		// Inline, like copies, so that it takes effect after every copy sent before it.
		var req leaseMsg
		if err := dec.Decode(&req); err != nil {
			return nil, true, err
		}
		c.repl.Granted(&req)
		return nil, true, nil
	case methodTouch:
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
	case methodForward:
		var req commandMsg
		if err := dec.Decode(&req); err != nil {
			return nil, true, err
		}
		if err := c.refused(req.Deadline); err != nil {
			return resultOf(sessions.Result{}, err), true, nil
		}
		resp, ok := c.inlineOne(ctx, &req)
		return resp, ok, nil
	case methodForwardBatch:
		var req batchMsg
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
