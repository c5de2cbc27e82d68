package resp

import (
	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
)

// pipeBufs are the slices a pipeline needs, kept by the connection from one pipeline to the
// next so that a steady stream of pipelines allocates nothing here.
type pipeBufs struct {
	replies []reply
	cmds    []sessions.Command // the run of prepared commands not yet handed down
	ptrs    []*sessions.Command
	outs    []api.Outcome
	at      []int // at[j] is where cmds[j] stands in the pipeline
	written int   // replies before this index are written
}

// maxKeptBatch bounds the pipeline whose buffers a connection keeps for the next one.
const maxKeptBatch = 1024

// runBatch runs a pipeline, the same way whatever the backend. Session commands on a token
// (those with a prep) are checked where they stand and gathered into a run, which reaches the
// backend together (see handDown); the backend keeps their order per slot. Any
// other command (START, CREATE, ROTATE, owner and tenant-wide commands, connection commands)
// ends the run and runs alone once the run has: everything before it has then run. A request
// refused before the backend (authentication, unknown command, arity, arguments) is answered
// in its place. Replies go out in the pipeline's order, each once everything before it has
// run, so a HELLO switches the protocol of the replies after it only.
func (c *client) runBatch(batch [][][]byte) {
	p := &c.pipe
	if cap(p.replies) < len(batch) {
		p.replies = make([]reply, len(batch))
		p.cmds = make([]sessions.Command, 0, len(batch))
	}
	p.replies = p.replies[:len(batch)]
	for i, args := range batch {
		h, r, ok := c.resolve(args)
		switch {
		case !ok:
			p.replies[i] = r
		case h.prep == nil:
			c.handDown(i)
			c.write(h.fn(c, c.signer, args))
			p.written = i + 1
		default:
			cmd, e := h.prep(c.signer, args)
			if e != "" {
				p.replies[i] = errReply(e)
				continue
			}
			p.cmds = append(p.cmds, cmd)
			p.at = append(p.at, i)
		}
	}
	c.handDown(len(batch))
	clear(p.replies) // they point into the store's memory
	p.written = 0
	if cap(p.replies) > maxKeptBatch {
		*p = pipeBufs{} // one huge pipeline does not pin its buffers for the connection's life
	}
}

// handDown hands the pending run of prepared commands to the backend's DoBatch, then writes
// every reply before index upTo.
func (c *client) handDown(upTo int) {
	p := &c.pipe
	if n := len(p.cmds); n > 0 {
		ptrs := p.ptrs[:0]
		for j := range p.cmds {
			ptrs = append(ptrs, &p.cmds[j])
		}
		p.ptrs = ptrs
		if cap(p.outs) < n {
			p.outs = make([]api.Outcome, n)
		}
		outs := p.outs[:n]
		c.s.backend.DoBatch(c.s.ctx, ptrs, outs)
		for j, i := range p.at {
			p.replies[i] = render(p.cmds[j].Kind, outs[j].Result, outs[j].Err)
		}
		clear(outs) // they point into the store's memory
		p.cmds, p.at = p.cmds[:0], p.at[:0]
	}
	for ; p.written < upTo; p.written++ {
		c.write(p.replies[p.written])
	}
}
