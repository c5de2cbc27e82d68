package wire

import (
	"context"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
)

// Handler is what a node serves its peers, a method per call, each with its own message
// types. Serve decodes the calls and hands them to it.
type Handler interface {
	// Forward runs a command as its primary, or further on.
	Forward(ctx context.Context, req *CommandMsg) *ResultMsg
	// ForwardInline runs it on the connection's reader if it waits on nothing there, and
	// reports whether it did; its answer may be a replication.Deferred.
	ForwardInline(ctx context.Context, req *CommandMsg) (resp any, ok bool)
	// ForwardBatch runs several commands as their primary.
	ForwardBatch(ctx context.Context, req *BatchMsg) *BatchResultMsg
	// ForwardBatchInline is ForwardInline for a batch: all of its commands or none.
	ForwardBatchInline(ctx context.Context, req *BatchMsg) (resp any, ok bool)
	// Scatter runs a tenant-wide command over the slots it names.
	Scatter(ctx context.Context, req *CommandMsg) *ResultMsg
	// Apply merges ops, in order, on the connection's reader. Its answer is nil, or a
	// replication.Deferred that gives it once the ops are on disk; an error refuses them.
	Apply(ops []sessions.Op) (any, error)
	// ApplyFailed is told when a copy to apply could not be read.
	ApplyFailed()
	// LeaseAsk grants a backup a read lease, if it may have one.
	LeaseAsk(ctx context.Context, req *LeaseMsg)
	// LeaseGrant takes a primary's grant, on the connection's reader, after every copy sent
	// before it.
	LeaseGrant(req *LeaseMsg)
	// Sharing returns why the node's copies may not be read yet (Pull, Fetch, Digest), or nil.
	Sharing() error
}

// Store is what Serve reads and changes for the calls that only touch the local store.
type Store interface {
	SlotOps(slot int, fn func(op *sessions.Op))
	ExportChain(id sessions.ID) []sessions.Op
	SlotDigests(slots []int) []uint64
	Touch(id sessions.ID, atMs int64, reads uint32)
}

// Serve is the replication.Handler that decodes each node-to-node call and hands it to h, or
// answers it from s. Copies, grants and touches run on the connection's reader, in the
// order they came; forwarded commands do when h says they can.
func Serve(h Handler, s Store) replication.InlineHandler { return server{h, s} }

type server struct {
	h Handler
	s Store
}

func (sv server) ServeCall(ctx context.Context, m replication.Method, dec *msgpack.Decoder) (any, error) {
	switch m {
	case Forward, Scatter:
		var req CommandMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		if m == Scatter {
			return sv.h.Scatter(ctx, &req), nil
		}
		return sv.h.Forward(ctx, &req), nil
	case ForwardBatch:
		var req BatchMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		return sv.h.ForwardBatch(ctx, &req), nil
	case Pull, Fetch, Digest:
		if err := sv.h.Sharing(); err != nil {
			return nil, err
		}
		return sv.serveCopies(m, dec)
	case LeaseAsk:
		var req LeaseMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		sv.h.LeaseAsk(ctx, &req)
		return nil, nil
	case Apply, LeaseGrant, Touch:
		resp, _, err := sv.ServeInline(ctx, m, dec)
		return resp, err
	}
	return nil, fmt.Errorf("unknown method %d", m)
}

func (sv server) ServeInline(ctx context.Context, m replication.Method, dec *msgpack.Decoder) (any, bool, error) {
	switch m {
	case Apply:
		var req OpsMsg
		if err := dec.Decode(&req); err != nil {
			sv.h.ApplyFailed()
			return nil, true, err
		}
		resp, err := sv.h.Apply(req.Ops)
		return resp, true, err
	case LeaseGrant:
		var req LeaseMsg
		if err := dec.Decode(&req); err != nil {
			return nil, true, err
		}
		sv.h.LeaseGrant(&req)
		return nil, true, nil
	case Touch:
		var req TouchMsg
		if err := dec.Decode(&req); err != nil {
			return nil, true, err
		}
		if len(req.IDs) != len(req.At)*sessions.IDLen {
			return nil, true, fmt.Errorf("touch: %d bytes of ids for %d times", len(req.IDs), len(req.At))
		}
		for i, at := range req.At {
			sv.s.Touch(sessions.ID(req.IDs[i*sessions.IDLen:]), at, 1)
		}
		return nil, true, nil
	case Forward:
		var req CommandMsg
		if err := dec.Decode(&req); err != nil {
			return nil, true, err
		}
		resp, ok := sv.h.ForwardInline(ctx, &req)
		return resp, ok, nil
	case ForwardBatch:
		var req BatchMsg
		if err := dec.Decode(&req); err != nil {
			return nil, true, err
		}
		resp, ok := sv.h.ForwardBatchInline(ctx, &req)
		return resp, ok, nil
	}
	return nil, false, nil
}

// serveCopies answers the calls that read this node's copies.
func (sv server) serveCopies(m replication.Method, dec *msgpack.Decoder) (any, error) {
	switch m {
	case Pull:
		var req PullMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		if req.Slot < 0 || req.Slot >= sessions.Slots {
			return nil, fmt.Errorf("slot %d out of range", req.Slot)
		}
		var resp OpsMsg
		sv.s.SlotOps(req.Slot, func(op *sessions.Op) { resp.Ops = append(resp.Ops, *op) })
		return &resp, nil
	case Fetch:
		var req FetchMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		return &OpsMsg{Ops: sv.s.ExportChain(req.ID)}, nil
	case Digest:
		var req DigestMsg
		if err := dec.Decode(&req); err != nil {
			return nil, err
		}
		slots := make([]int, len(req.Slots))
		for i, s := range req.Slots {
			slots[i] = int(s)
		}
		return &DigestMsg{Digests: sv.s.SlotDigests(slots)}, nil
	}
	return nil, fmt.Errorf("unknown method %d", m)
}
