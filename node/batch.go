package node

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/pipeline"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// DoBatch runs a pipeline's commands as Do would run each of them, and leaves their outcomes
// in out, in order. A node alone runs them one after another on the caller's goroutine, a
// clock reading shared by clockEvery of them. In a cluster, commands on the same slot run one
// after another in the order given, the others may run concurrently, and the commands bound
// for one primary travel to it in one message and come back in one: a pipeline costs a round
// trip per primary, not per command.
// Tenant-wide commands (ENDALL, ACTIVITY, ACTIVE) are not ordered against the rest of the
// batch; give one a batch of its own when its order matters (the RESP front end does).
func (n *Node) DoBatch(ctx context.Context, cmds []*sessions.Command, out []api.Outcome) {
	out = out[:len(cmds)]
	clear(out) // the caller's, maybe from an earlier batch: no outcome may show through
	if n.life.Err() != nil {
		for i := range out {
			out[i] = api.Outcome{Err: api.ErrClosed}
		}
		return
	}
	if n.cluster != nil {
		n.cluster.doBatch(ctx, cmds, out)
		return
	}
	var now int64
	wrote := false
	for i, cmd := range cmds {
		if i%clockEvery == 0 {
			now = time.Now().UnixMilli()
		}
		if err := n.diskRefuses(cmd); err != nil {
			out[i].Err = err
			continue
		}
		if cmd.At != 0 {
			out[i].Result, out[i].Err = n.store.Do(cmd)
		} else {
			cmd.At = now
			out[i].Result, out[i].Err = n.store.Do(cmd)
			cmd.At = 0 // the caller's command, which it may use again
		}
		wrote = wrote || len(out[i].Result.Ops) > 0
	}
	n.stats.Commands.Add(uint64(len(cmds)))
	if wrote {
		if err := n.durable(ctx); err != nil { // one wait for the batch: group commit
			for i := range out {
				if len(out[i].Result.Ops) > 0 {
					out[i] = api.Outcome{Err: err}
				}
			}
		}
	}
}

func (c *cluster) doBatch(ctx context.Context, cmds []*sessions.Command, out []api.Outcome) {
	// Reads this node answers at once (readNow) run first, here, and nothing is allocated
	// for them: in a read-heavy pipeline they are most of it. A read waits for the general
	// path below when another kind of command in the batch shares its slot, so that the
	// pipeline's order on a slot holds.
	var others pipeline.SlotSet
	for _, cmd := range cmds {
		if !cmd.Kind.Traits().Read && !cmd.Kind.IsScatter() {
			others.Add(cmd.Slot())
		}
	}
	var rest []int
	var now time.Time
	reads := 0
	for i, cmd := range cmds {
		if cmd.Kind.Traits().Read && !others.Has(cmd.Slot()) {
			if reads%clockEvery == 0 {
				now = time.Now()
			}
			reads++
			if o, ok := c.readNow(ctx, cmd, now); ok {
				out[i] = o
				continue
			}
		}
		if rest == nil {
			rest = make([]int, 0, len(cmds)-i)
		}
		rest = append(rest, i)
	}
	if len(rest) > 0 {
		c.doRest(ctx, cmds, rest, out)
	}
}

// clockEvery is how many reads of a pipeline share one clock reading: a reading costs about
// as much as the read itself, and a read takes well under a microsecond.
const clockEvery = 32

// doRest runs the commands at idx: each on its primary, those bound for one primary in one
// message, and those this node is primary of as one group.
func (c *cluster) doRest(ctx context.Context, cmds []*sessions.Command, idx []int, out []api.Outcome) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	v, now := c.views.Load(), time.Now()
	// Where each command runs: its primary, or here for tenant-wide commands and for reads
	// this node may answer from its copy.
	dest := make([]pipeline.Dest, len(cmds))
	for _, i := range idx {
		cmd := cmds[i]
		if cmd.Kind.IsScatter() {
			dest[i].Node = c.cfg.Name
			continue
		}
		var p int
		p, dest[i].Node = v.PrimaryOf(cmd.Slot())
		dest[i].CopyRead = dest[i].Node != c.cfg.Name && c.copyReadable(v, p, dest[i].Node, cmd, now)
	}
	plan := pipeline.Split(c.cfg.Name, cmds, idx, dest)
	remote, local := plan.Remote, len(plan.Local)
	done := make(chan struct{}, len(remote)+1)
	spawned := 0
	for primary, at := range remote {
		if local == 0 && spawned == len(remote)-1 {
			// Nothing to do here meanwhile: the last primary's share goes from this
			// goroutine, which would only wait otherwise (a hand-off costs a wake-up).
			c.forwardBatch(ctx, primary, v.Repl(primary), cmds, at, out)
			break
		}
		spawned++
		c.pool.Go(func() {
			c.forwardBatch(ctx, primary, v.Repl(primary), cmds, at, out)
			done <- struct{}{}
		})
	}
	run := func(cmd *sessions.Command) (sessions.Result, error) {
		if cmd.Kind.IsScatter() {
			return c.scatter(ctx, cmd)
		}
		return c.route(ctx, cmd, 0, "")
	}
	// The commands this node is primary of as one group (runGrouped), after the copy reads,
	// which are quick.
	if len(plan.Mine) > 1 && !slices.ContainsFunc(plan.Here, func(i int) bool { return cmds[i].Kind.IsScatter() }) {
		c.runOrdered(cmds, plan.Here, out, run)
		if !c.runGrouped(ctx, cmds, plan.Mine, out, "") {
			c.runOrdered(cmds, plan.Mine, out, run)
		}
	} else {
		c.runOrdered(cmds, plan.Local, out, run)
	}
	for range spawned {
		<-done
	}
}

// forwardBatch sends the commands at idx to one primary, in messages of bounded size.
func (c *cluster) forwardBatch(ctx context.Context, primary, addr string, cmds []*sessions.Command, idx []int, out []api.Outcome) {
	if len(idx) == 1 {
		i := idx[0]
		out[i].Result, out[i].Err = c.route(ctx, cmds[i], 0, "")
		return
	}
	for _, chunk := range pipeline.Chunks(cmds, idx) {
		c.sendBatch(ctx, primary, addr, cmds, chunk, out)
	}
}

func (c *cluster) sendBatch(ctx context.Context, primary, addr string, cmds []*sessions.Command, idx []int, out []api.Outcome) {
	// A signature this node has not verified is verified now: the primary trusts its sender.
	settled := idx[:0]
	for _, i := range idx {
		if cmds[i].Settle() {
			settled = append(settled, i)
		} else {
			out[i].Err = sessions.ErrSignature
		}
	}
	if idx = settled; len(idx) == 0 {
		return
	}
	req := wire.BatchMsg{Cmds: make([]sessions.Command, len(idx)), Hops: 1, Via: c.cfg.Name, Deadline: deadlineOf(ctx)}
	for j, i := range idx {
		req.Cmds[j] = *cmds[i]
	}
	c.n.stats.Forwarded.Add(uint64(len(idx)))
	c.n.stats.Batches.Add(1)
	resp, err := c.client.ForwardBatch(ctx, addr, &req)
	if err == nil {
		for j, i := range idx {
			r := &resp.Results[j]
			out[i].Result, out[i].Err = r.Result, r.Err()
			if derr := c.applyCarried(ctx, r.Ops); derr != nil {
				out[i] = api.Outcome{Err: derr}
			}
		}
		return
	}
	c.repl.Missed(primary)
	var re *replication.RemoteError
	unknown := errors.As(err, &re) && strings.HasPrefix(re.Msg, "unknown method")
	if !unknown && !errors.Is(err, replication.ErrUnavailable) {
		for _, i := range idx {
			out[i].Err = api.TryAgainf("forwarding to %s: %v", addr, err)
		}
		return
	}
	// Nothing ran (an older peer without batches), or the primary went away mid-call: route
	// each command on its own, which waits for a new view. Commands that must not run twice
	// cannot be retried, since their first attempt may have run.
	var retry []int
	for _, i := range idx {
		if unknown || !cmds[i].Kind.Traits().Once {
			retry = append(retry, i)
		} else {
			out[i].Err = api.TryAgainf("primary at %s unreachable; outcome unknown", addr)
		}
	}
	lost := ""
	if errors.Is(err, replication.ErrConnLost) {
		lost = primary
	}
	c.runOrdered(cmds, retry, out, func(cmd *sessions.Command) (sessions.Result, error) {
		return c.routeAfter(ctx, cmd, 0, "", lost)
	})
}

// runOrdered runs fn on the commands at idx and stores their outcomes: the commands of one
// slot one after another in order, different slots concurrently. Chains of reads this node
// can answer at once run on the calling goroutine after the others have started: a hand-off
// to another goroutine would cost more than the read.
func (c *cluster) runOrdered(cmds []*sessions.Command, idx []int, out []api.Outcome, fn func(*sessions.Command) (sessions.Result, error)) {
	if len(idx) == 0 {
		return
	}
	chains := pipeline.Chains(cmds, idx)
	run := func(chain []int) {
		for _, i := range chain {
			out[i].Result, out[i].Err = fn(cmds[i])
		}
	}
	var here [][]int
	done := make(chan struct{}, len(chains))
	spawned := 0
	for k, chain := range chains {
		last := k == len(chains)-1
		if c.allServeNow(cmds, chain) || last && len(here) == 0 {
			here = append(here, chain) // quick reads, or the last chain when none is here yet
			continue
		}
		spawned++
		c.pool.Go(func() {
			run(chain)
			done <- struct{}{}
		})
	}
	for _, chain := range here {
		run(chain)
	}
	for range spawned {
		<-done
	}
}

// allServeNow reports whether every command at idx is a read this node answers at once,
// as primary or from its copy.
func (c *cluster) allServeNow(cmds []*sessions.Command, idx []int) bool {
	v, now := c.views.Load(), time.Now()
	for _, i := range idx {
		if _, _, ok := c.servesNow(cmds[i], now); ok {
			continue
		}
		if p, primary := v.PrimaryOf(cmds[i].Slot()); !c.copyReadable(v, p, primary, cmds[i], now) {
			return false
		}
	}
	return true
}

// serveBatch runs a forwarded batch here (or further on, where views disagree).
func (c *cluster) serveBatch(ctx context.Context, req *wire.BatchMsg) *wire.BatchResultMsg {
	if err := c.refused(req.Deadline); err != nil {
		return wire.AnswerAll(len(req.Cmds), err)
	}
	ctx, cancel := c.forwardedCtx(ctx, req.Deadline)
	defer cancel()
	cmds := make([]*sessions.Command, len(req.Cmds))
	idx := make([]int, len(req.Cmds))
	for i := range req.Cmds {
		cmds[i], idx[i] = &req.Cmds[i], i
	}
	out := make([]api.Outcome, len(cmds))
	if !c.runGrouped(ctx, cmds, idx, out, req.Via) {
		c.runOrdered(cmds, idx, out, func(cmd *sessions.Command) (sessions.Result, error) {
			return c.route(ctx, cmd, req.Hops, req.Via)
		})
	}
	return wire.AnswerBatch(out)
}
