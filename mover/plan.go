// Package mover moves partitions between nodes: what a new view means for this node (Plan),
// the pulls it then makes, the pushes that hand partitions to their new holders, anti-entropy
// between a primary and its backups, and the dropping of copies no longer held.
//
// PlanChange, Resync and PlanLeave decide and do no I/O; Mover carries their decisions out
// over Peers.
package mover

import (
	"slices"

	"github.com/sessiongate/sessiongate/ring"
)

// Change is a view change as one node sees it.
type Change struct {
	Self string
	// Old is the ring before the change, nil for the first view; OldMembers its members.
	Old        *ring.Ring
	OldMembers map[string]bool
	// New is the ring after the change; Alive its members that can be pulled from.
	New   *ring.Ring
	Alive map[string]bool
	// Leaving is set while this node hands its partitions off: it pulls nothing.
	Leaving bool
}

// Sync is one partition this node must pull after a view change.
type Sync struct {
	P    int
	From []string // members that may hold a copy, sorted
	// Gate is set when this node becomes (or stays, facing newcomers) the partition's primary:
	// it may serve the partition only once the pull is done, so that no read answers "does
	// not exist" for a session a previous holder has.
	Gate bool
}

// Plan is what a view change calls for on one node.
type Plan struct {
	Syncs []Sync
	// Lost are the partitions this node stopped being primary of while their new primary is
	// alive: pushed to it once this node has stopped serving them (Mover.HandOff).
	Lost []int
	// Resigned are the partitions this node stopped being primary of: repairing their backups
	// is the new primary's job, so their under-replication flag is cleared here.
	Resigned []int
	// Moved counts the partitions whose replica sets changed.
	Moved int
}

// PlanChange decides what a view change means for c.Self. A member counts as a source only
// if alive; a primary that stays primary keeps serving unless a source is new to it (such as
// the rest of the cluster, seen by a node that restarted empty and briefly saw itself alone:
// they may hold sessions this node has never seen).
func PlanChange(c Change) Plan {
	var pl Plan
	var moves []ring.Move
	if c.Old != nil {
		moves = ring.Diff(c.Old, c.New)
	}
	pl.Moved = len(moves)
	for _, mv := range moves {
		wasPrimary := len(mv.Old) > 0 && mv.Old[0] == c.Self
		if wasPrimary && mv.New[0] != c.Self {
			pl.Resigned = append(pl.Resigned, mv.Partition)
			if c.Alive[mv.New[0]] && !c.Leaving {
				pl.Lost = append(pl.Lost, mv.Partition)
			}
		}
		if c.Leaving || !slices.Contains(mv.New, c.Self) {
			continue
		}
		var from []string
		for _, m := range append(slices.Clone(mv.Old), mv.New...) {
			if m != c.Self && c.Alive[m] && !slices.Contains(from, m) {
				from = append(from, m)
			}
		}
		if len(from) == 0 {
			continue
		}
		slices.Sort(from)
		newcomer := false
		for _, m := range from {
			newcomer = newcomer || !c.OldMembers[m]
		}
		gate := mv.New[0] == c.Self && (!wasPrimary || newcomer)
		pl.Syncs = append(pl.Syncs, Sync{P: mv.Partition, From: from, Gate: gate})
	}
	return pl
}

// Resync is what a node that stalled (frozen for longer than failure detection) must pull
// before it serves again: every partition it is primary of, from every other member, gated.
// Whoever stood in for it meanwhile may hold newer writes.
func Resync(self string, r *ring.Ring, members []string) []Sync {
	var from []string
	for _, m := range members {
		if m != self {
			from = append(from, m)
		}
	}
	if len(from) == 0 {
		return nil
	}
	slices.Sort(from)
	var out []Sync
	for p := 0; p < r.Partitions(); p++ {
		if r.Primary(p) == self {
			out = append(out, Sync{P: p, From: from, Gate: true})
		}
	}
	return out
}

// PlanLeave is what a leaving node hands off: every partition it holds in old goes to each
// holder of it in next, the ring without the node. moved counts those partitions.
func PlanLeave(self string, old, next *ring.Ring) (hs []Handoff, moved int) {
	for p := range old.Partitions() {
		if held, _ := old.Holds(self, p); !held {
			continue
		}
		for _, to := range next.Replicas(p) {
			hs = append(hs, Handoff{P: p, To: to})
		}
		moved++
	}
	return hs, moved
}
