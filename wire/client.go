package wire

import (
	"context"
	"errors"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
)

// Client makes the node-to-node calls over a replication client, each with its own message
// types. Its Pull, Push, Digests and Fetch make it a mover.Peers.
type Client struct{ *replication.Client }

// Forward runs a command on the primary at addr.
func (c Client) Forward(ctx context.Context, addr string, req *CommandMsg) (*ResultMsg, error) {
	var resp ResultMsg
	err := c.Call(ctx, addr, Forward, req, &resp)
	return &resp, err
}

// ForwardBatch runs several commands on the primary at addr; the answer has one result per
// command, in order.
func (c Client) ForwardBatch(ctx context.Context, addr string, req *BatchMsg) (*BatchResultMsg, error) {
	var resp BatchResultMsg
	if err := c.Call(ctx, addr, ForwardBatch, req, &resp); err != nil {
		return nil, err
	}
	if len(resp.Results) != len(req.Cmds) {
		return nil, errors.New("batch answer has the wrong number of results")
	}
	return &resp, nil
}

// Scatter runs a tenant-wide command over the slots it names on the member at addr.
func (c Client) Scatter(ctx context.Context, addr string, req *CommandMsg) (*ResultMsg, error) {
	var resp ResultMsg
	err := c.Call(ctx, addr, Scatter, req, &resp)
	return &resp, err
}

// Pull returns a member's full copy of one slot.
func (c Client) Pull(ctx context.Context, addr string, slot int) ([]sessions.Op, error) {
	var resp OpsMsg
	err := c.Call(ctx, addr, Pull, PullMsg{Slot: slot}, &resp)
	return resp.Ops, err
}

// Push sends ops for a member to merge.
func (c Client) Push(ctx context.Context, addr string, ops []sessions.Op) error {
	return c.Call(ctx, addr, Apply, &OpsMsg{Ops: ops}, nil)
}

// Digests returns a member's digests of some slots, in order.
func (c Client) Digests(ctx context.Context, addr string, slots []uint16) ([]uint64, error) {
	var resp DigestMsg
	err := c.Call(ctx, addr, Digest, DigestMsg{Slots: slots}, &resp)
	return resp.Digests, err
}

// Fetch returns a member's copy of one session and of the ids it was rotated into.
func (c Client) Fetch(ctx context.Context, addr string, id sessions.ID) ([]sessions.Op, error) {
	var resp OpsMsg
	err := c.Call(ctx, addr, Fetch, FetchMsg{ID: id}, &resp)
	return resp.Ops, err
}

// Err is the error a command's answer carries, or nil: a store error with its code and
// limit, or a cluster condition with its text (retryable, as every condition of a node is).
func (m *ResultMsg) Err() error {
	switch {
	case m.Code != 0:
		return &sessions.Error{Code: m.Code, Max: m.Max}
	case m.Msg != "":
		return &api.TryAgain{Msg: m.Msg}
	}
	return nil
}

// Answer is the answer that carries a command's result and error (see Err); the result's
// ops travel in the answer's own Ops.
func Answer(res sessions.Result, err error) *ResultMsg {
	m := &ResultMsg{Result: res, Ops: res.Ops}
	m.Result.Ops = nil
	var se *sessions.Error
	var re interface{ RESPError() string }
	switch {
	case err == nil:
	case errors.As(err, &se):
		m.Code, m.Max = se.Code, se.Max
	case errors.As(err, &re):
		m.Msg = re.RESPError() // TRYAGAIN ..., MISCONF ...
	default:
		m.Msg = "TRYAGAIN " + err.Error()
	}
	return m
}

// AnswerAll answers a batch whose commands all got the same error.
func AnswerAll(n int, err error) *BatchResultMsg {
	resp := &BatchResultMsg{Results: make([]ResultMsg, n)}
	for i := range resp.Results {
		resp.Results[i] = *Answer(sessions.Result{}, err)
	}
	return resp
}

// AnswerBatch answers a batch with its commands' outcomes.
func AnswerBatch(out []api.Outcome) *BatchResultMsg {
	resp := &BatchResultMsg{Results: make([]ResultMsg, len(out))}
	for i, o := range out {
		resp.Results[i] = *Answer(o.Result, o.Err)
	}
	return resp
}
