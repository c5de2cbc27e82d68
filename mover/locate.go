package mover

import (
	"context"
	"slices"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
)

// Locate asks every member of v for its own copy of one session, without routing, repair or
// leases: the view an operator needs when a session is missing or back where it should not
// be. Members that do not answer within the RPC timeout are reported unreachable.
func (m *Mover) Locate(ctx context.Context, v View, id sessions.ID) []api.Copy {
	r := v.Ring()
	set := r.Replicas(r.PartitionOfSlot(id.Slot()))
	names := r.Members()
	slices.Sort(names)
	out := make([]api.Copy, len(names))
	done := make(chan struct{}, len(names))
	for i, name := range names {
		go func() {
			defer func() { done <- struct{}{} }()
			rank := slices.Index(set, name)
			if name == m.cfg.Self {
				out[i] = CopyOf(m.store.ExportChain(id), id, name, rank)
				return
			}
			cctx, cancel := context.WithTimeout(ctx, m.cfg.RPCTimeout)
			defer cancel()
			addr, _ := v.Addr(name)
			ops, err := m.peers.Fetch(cctx, addr, id)
			if err != nil {
				out[i] = api.Copy{Node: name, Rank: rank, State: "unreachable", Err: err.Error()}
				return
			}
			out[i] = CopyOf(ops, id, name, rank)
		}()
	}
	for range names {
		<-done
	}
	return out
}

// CopyOf describes id's own op among a fetched chain (a rotated id's chain holds its
// successors too), as member name of the given rank holds it.
func CopyOf(ops []sessions.Op, id sessions.ID, name string, rank int) api.Copy {
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
