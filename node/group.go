package node

import (
	"context"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/replica"
	"github.com/sessiongate/sessiongate/sessions"
)

// Group commit. The commands of a pipeline (or of a forwarded batch) whose partitions this
// node is primary of run on the store one after another, and their writes are replicated
// together: each backup gets one message with every op it must apply and answers it once
// (Replicator.Start). Run one by one, each write waited for its own copies, and a pipeline of
// sixteen writes cost every backup sixteen messages and acknowledgements, and this node
// sixteen socket writes per backup.
//
// Nothing is answered before the whole group is replicated, as before: the replies of a
// batch go out together. A command after a write on the same session sees that write, as it
// did when it ran after the write's replication; if the replication then fails, the write
// stands here (replicate's rule) and only the write itself reports the failure.
//
// Only the plain case is grouped: every command addressed to a partition this node is
// primary of and that is ready, no ROTATE (it may first ask every member for the session),
// no tenant-wide command. Anything else runs command by command (runOrdered).

// runGrouped runs the commands at idx as one group if it can, and reports whether it did;
// when it did not, it changed nothing. via is the node that forwarded them, if any (see carrier).
func (c *cluster) runGrouped(ctx context.Context, cmds []*sessions.Command, idx []int, out []api.Outcome, via string) bool {
	if len(idx) < 2 {
		return false
	}
	v := c.view.Load()
	ps := make([]int, len(idx))
	for j, i := range idx {
		cmd := cmds[i]
		if cmd.Kind.IsScatter() || cmd.Kind == sessions.KindRotate {
			return false
		}
		p := v.ring.PartitionOfSlot(slotOf(cmd))
		if v.ring.Primary(p) != c.cfg.Name {
			return false
		}
		select {
		case <-v.ready[p]:
		default:
			return false // being handed over: execute waits for it, command by command
		}
		ps[j] = p
	}
	g := c.startGroup(ctx, v, cmds, idx, ps, out, via)
	if g.f != nil {
		g.f.Wait(ctx)
	}
	g.finish(out)
	return true
}

// group is a group's commands run on the store, with their writes' replication under way.
type group struct {
	f      *replica.Flight // nil when nothing was written
	writes []groupWrite
}

// groupWrite is a command of a group that changed something, and its outcome on the store.
type groupWrite struct {
	i, part int // index of the command, and of its partition in the flight
	res     sessions.Result
	err     error
}

// startGroup runs the commands at idx (of partitions ps, all this node's and ready) on the
// store in order, sets the outcomes of those that wrote nothing, and sends the writes'
// copies. finish sets the others once the flight is done or waited for. On a node that was
// stalled a moment ago it runs nothing: every command gets TRYAGAIN, and the group no flight.
func (c *cluster) startGroup(ctx context.Context, v *view, cmds []*sessions.Command, idx, ps []int, out []api.Outcome, via string) *group {
	g := &group{}
	if c.checkStall() {
		// Frozen until a moment ago: others may have served these partitions meanwhile.
		for j, i := range idx {
			out[i].Err = tryAgain("partition %d: this node was stalled and is re-syncing", ps[j])
		}
		return g
	}
	var (
		parts  []replica.Part
		partOf = map[int]int{} // partition -> index in parts
	)
	for j, i := range idx {
		p := ps[j]
		if ctx.Err() != nil {
			out[i].Err = tryAgain("partition %d: command timed out before it ran", p)
			continue
		}
		res, err := c.runStore(ctx, v, p, cmds[i])
		if len(res.Ops) == 0 {
			out[i].Result, out[i].Err = res, err
			continue
		}
		k, ok := partOf[p]
		if !ok {
			k = len(parts)
			partOf[p] = k
			parts = append(parts, replica.Part{P: p, Carrier: c.carrier(v, p, via)})
		}
		parts[k].Ops = append(parts[k].Ops, res.Ops...)
		g.writes = append(g.writes, groupWrite{i: i, part: k, res: res, err: err})
	}
	if len(parts) > 0 {
		if len(idx) > 1 { // a lone forwarded write (inlineOne) is no group
			c.n.stats.Grouped.Add(uint64(len(g.writes)))
		}
		g.f = c.repl.Start(v, parts)
	}
	return g
}

// finish sets the outcomes of the group's writes from their replication's (none when it
// has no flight).
func (g *group) finish(out []api.Outcome) {
	for _, w := range g.writes {
		out[w.i].Result, out[w.i].Err = replicated(w.res, w.err, g.f.Err(w.part), g.f.Carrier(w.part))
	}
}
