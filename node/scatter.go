package node

import (
	"context"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// scatter runs a tenant-wide command on every partition's primary and merges the answers.
func (c *cluster) scatter(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	v := c.view.Load()
	byNode := map[string][]uint16{}
	for slot := 0; slot < sessions.Slots; slot++ {
		primary := v.ring.Primary(v.ring.PartitionOfSlot(slot))
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
			var resp wire.ResultMsg
			err := c.client.Call(ctx, v.members[name].Repl, wire.Scatter, &wire.CommandMsg{Cmd: sub}, &resp)
			if err != nil {
				answers <- answer{err: tryAgain("node %s unreachable for a cluster-wide command", name)}
				return
			}
			answers <- answer{resp.Result, errOf(&resp)}
		}()
	}
	var out sessions.Result
	var firstErr error
	for range byNode {
		a := <-answers
		if a.err != nil {
			if firstErr == nil {
				firstErr = a.err
			}
			continue
		}
		out.Int += a.res.Int
		out.Sessions = append(out.Sessions, a.res.Sessions...)
	}
	if firstErr != nil {
		return sessions.Result{}, firstErr
	}
	if cmd.Kind == sessions.KindActive {
		limit := cmd.Limit
		if limit <= 0 || limit > sessions.MaxActiveLimit {
			limit = sessions.MaxActiveLimit
		}
		out.Sessions = sessions.SortRecent(out.Sessions, limit)
	}
	return out, nil
}

// executeScatter runs a tenant-wide command over some slots held here as primary.
func (c *cluster) executeScatter(ctx context.Context, v *view, cmd *sessions.Command) (sessions.Result, error) {
	for _, slot := range cmd.Slots {
		p := v.ring.PartitionOfSlot(int(slot))
		select {
		case <-v.ready[p]:
		case <-ctx.Done():
			return sessions.Result{}, tryAgain("partition %d is still being handed over", p)
		}
	}
	res, err := c.n.store.Do(cmd)
	c.n.stats.Commands.Add(1)
	if err != nil {
		return res, err
	}
	byPart := map[int][]sessions.Op{}
	for _, op := range res.Ops {
		p := v.ring.PartitionOfSlot(op.Slot())
		byPart[p] = append(byPart[p], op)
	}
	for p, ops := range byPart {
		if rerr := c.replicate(ctx, v, p, ops, ""); rerr != nil {
			return sessions.Result{}, rerr
		}
	}
	res.Ops = nil
	return res, nil
}
