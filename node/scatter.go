package node

import (
	"context"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/view"
	"github.com/sessiongate/sessiongate/wire"
)

// scatter runs a tenant-wide command on every partition's primary and merges the answers.
func (c *cluster) scatter(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	v := c.views.Load()
	byNode := map[string][]uint16{}
	for slot := 0; slot < sessions.Slots; slot++ {
		_, primary := v.PrimaryOf(slot)
		byNode[primary] = append(byNode[primary], uint16(slot))
	}
	type answer struct {
		res sessions.Result
		err error
	}
	answers := make(chan answer, len(byNode))
	for name, slots := range byNode {
		sub := *cmd
		sub.Slots = slots
		go func() {
			if name == c.cfg.Name {
				res, err := c.executeScatter(ctx, v, &sub)
				answers <- answer{res, err}
				return
			}
			c.n.stats.Forwarded.Add(1)
			resp, err := c.client.Scatter(ctx, v.Repl(name), &wire.CommandMsg{Cmd: sub})
			if err != nil {
				answers <- answer{err: api.TryAgainf("node %s unreachable for a cluster-wide command", name)}
				return
			}
			answers <- answer{resp.Result, resp.Err()}
		}()
	}
	parts := make([]sessions.Result, 0, len(byNode))
	var firstErr error
	for range byNode {
		a := <-answers
		if a.err != nil && firstErr == nil {
			firstErr = a.err
		}
		parts = append(parts, a.res)
	}
	if firstErr != nil {
		return sessions.Result{}, firstErr
	}
	return sessions.Merge(cmd, parts), nil
}

// executeScatter runs a tenant-wide command over some slots held here as primary.
func (c *cluster) executeScatter(ctx context.Context, v *view.View, cmd *sessions.Command) (sessions.Result, error) {
	for _, slot := range cmd.Slots {
		p := v.Ring().PartitionOfSlot(int(slot))
		select {
		case <-v.Ready(p):
		case <-ctx.Done():
			return sessions.Result{}, api.TryAgainf("partition %d is still being handed over", p)
		}
	}
	if err := c.n.diskRefuses(cmd); err != nil {
		return sessions.Result{}, err
	}
	res, err := c.n.store.Do(cmd)
	c.n.stats.Commands.Add(1)
	if err != nil {
		return res, err
	}
	for p, ops := range v.ByPartition(res.Ops) {
		if rerr := c.repl.Replicate(ctx, v, p, ops, ""); rerr != nil {
			return sessions.Result{}, rerr
		}
	}
	res.Ops = nil
	return res, nil
}
