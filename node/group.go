package node

import (
	"context"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/replica"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/view"
)

// Group commit (replica.Group) is for the plain case only: every command addressed to a
// partition this node is primary of and that is ready, no ROTATE (it may first ask every
// member for the session), no tenant-wide command. Anything else runs command by command
// (runOrdered).

// runGrouped runs the commands at idx as one group if it can, and reports whether it did;
// when it did not, it changed nothing. via is the node that forwarded them, if any (see replica.Carrier).
func (c *cluster) runGrouped(ctx context.Context, cmds []*sessions.Command, idx []int, out []api.Outcome, via string) bool {
	if len(idx) < 2 {
		return false
	}
	v := c.views.Load()
	ps := make([]int, len(idx))
	for j, i := range idx {
		cmd := cmds[i]
		if cmd.Kind.IsScatter() || cmd.Kind == sessions.KindRotate {
			return false
		}
		p, primary := v.PrimaryOf(cmd.Slot())
		if primary != c.cfg.Name || !v.IsReady(p) {
			return false // another's, or being handed over: execute waits for it, command by command
		}
		ps[j] = p
	}
	g, f := c.startGroup(ctx, v, cmds, idx, ps, out, via)
	if f != nil {
		f.Wait(ctx)
	}
	g.Finish(out)
	return true
}

// startGroup runs the commands at idx (of partitions ps, all this node's and ready) on the
// store in order, sets the outcomes of those that wrote nothing, and sends the writes'
// copies; the group's Finish sets the others once the flight is done or waited for. On a
// node that was stalled a moment ago it runs nothing: every command gets TRYAGAIN, and the
// group no flight.
func (c *cluster) startGroup(ctx context.Context, v *view.View, cmds []*sessions.Command, idx, ps []int, out []api.Outcome, via string) (*replica.Group, *replica.Flight) {
	g := &replica.Group{}
	if c.checkStall() {
		// Frozen until a moment ago: others may have served these partitions meanwhile.
		for j, i := range idx {
			out[i].Err = api.TryAgainf("partition %d: this node was stalled and is re-syncing", ps[j])
		}
		return g, nil
	}
	for j, i := range idx {
		p := ps[j]
		if ctx.Err() != nil {
			out[i].Err = api.TryAgainf("partition %d: command timed out before it ran", p)
			continue
		}
		res, err := c.runStore(ctx, v, p, cmds[i])
		if len(res.Ops) == 0 { // wrote nothing: its outcome is final
			out[i].Result, out[i].Err = res, err
			continue
		}
		g.Add(i, p, res, err, c.carrier(v, p, via))
	}
	if len(idx) > 1 && g.Writes() > 0 { // a lone forwarded write (inlineOne) is no group
		c.n.stats.Grouped.Add(uint64(g.Writes()))
	}
	return g, c.repl.StartGroup(v, g)
}
