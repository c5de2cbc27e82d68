package node

import (
	"context"
	"slices"
	"sort"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
)

// Locate asks every member for its own copy of one session, without routing, repair or
// leases: the view an operator needs when a session is missing or back where it should
// not be. Members that do not answer within the RPC timeout are reported unreachable.
func (n *Node) Locate(ctx context.Context, id sessions.ID) []api.Copy {
	c := n.cluster
	if c == nil {
		return []api.Copy{copyOf(n.Store().ExportChain(id), id, "local", 0)}
	}
	v := c.view.Load()
	set := v.ring.Replicas(v.ring.PartitionOfSlot(id.Slot()))
	names := make([]string, 0, len(v.members))
	for name := range v.members {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]api.Copy, len(names))
	done := make(chan struct{}, len(names))
	for i, name := range names {
		go func() {
			defer func() { done <- struct{}{} }()
			rank := slices.Index(set, name)
			if name == c.cfg.Name {
				out[i] = copyOf(n.Store().ExportChain(id), id, name, rank)
				return
			}
			cctx, cancel := context.WithTimeout(ctx, c.cfg.RPCTimeout)
			defer cancel()
			ops, err := peers{c}.Fetch(cctx, v.members[name].Repl, id)
			if err != nil {
				out[i] = api.Copy{Node: name, Rank: rank, State: "unreachable", Err: err.Error()}
				return
			}
			out[i] = copyOf(ops, id, name, rank)
		}()
	}
	for range names {
		<-done
	}
	return out
}

// copyOf describes id's own op among a fetched chain (a rotated id's chain holds its
// successors too).
func copyOf(ops []sessions.Op, id sessions.ID, name string, rank int) api.Copy {
	cp := api.Copy{Node: name, Rank: rank, State: "absent"}
	for _, op := range ops {
		if op.ID != id {
			continue
		}
		if op.Ended {
			cp.State = "ended"
			if !op.Next.IsZero() {
				cp.Next = op.Next.String()
			}
			return cp
		}
		cp.State, cp.HVer, cp.Deadline, cp.Fields = "live", op.HVer, op.Deadline, len(op.Fields)
	}
	return cp
}
