// Package view is one membership view of a cluster as a node holds it: the ring, where to
// reach each member, when the node installed the view, and per partition whether the node
// may serve it as primary yet. A view is built (New, Inherit, Gate), then installed, and
// never changed after: a change of members or a re-sync makes a new one.
package view

import (
	"slices"
	"sort"
	"time"

	"github.com/sessiongate/sessiongate/membership"
	"github.com/sessiongate/sessiongate/mover"
	"github.com/sessiongate/sessiongate/ring"
	"github.com/sessiongate/sessiongate/sessions"
)

// View is one membership view. It satisfies mover.View and replica.View.
type View struct {
	ring    *ring.Ring
	members map[string]membership.Member
	ready   []chan struct{}
	since   time.Time
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Members is the member table of a view: peers as gossip sees them, and self, alive, unless
// it is leaving (then it routes as if it were gone).
func Members(self membership.Member, peers []membership.Member, leaving bool) map[string]membership.Member {
	members := make(map[string]membership.Member, len(peers)+1)
	for _, m := range peers {
		members[m.Name] = m
	}
	delete(members, self.Name)
	if !leaving {
		self.State = "alive"
		members[self.Name] = self
	}
	return members
}

// Change is the change from old (nil for the first view) to v, as self sees it, for
// mover.PlanChange: every member of v may be pulled from.
func (v *View) Change(old *View, self string, leaving bool) mover.Change {
	ch := mover.Change{Self: self, New: v.ring, Alive: map[string]bool{}, Leaving: leaving}
	for m := range v.members {
		ch.Alive[m] = true
	}
	if old != nil {
		ch.Old, ch.OldMembers = old.ring, map[string]bool{}
		for m := range old.members {
			ch.OldMembers[m] = true
		}
	}
	return ch
}

// Build makes the ring of members (keyed by name) and the view over it, every partition
// ready.
func Build(cfg ring.Config, members map[string]membership.Member, since time.Time) (*View, error) {
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	r, err := ring.New(cfg, names)
	if err != nil {
		return nil, err
	}
	return New(r, members, since), nil
}

// New is the view of ring r over members, installed at since, every partition ready.
func New(r *ring.Ring, members map[string]membership.Member, since time.Time) *View {
	v := &View{ring: r, members: members, ready: make([]chan struct{}, r.Partitions()), since: since}
	for p := range v.ready {
		v.ready[p] = closed
	}
	return v
}

// Inherit keeps, for each partition self was already primary of in old, old's readiness:
// a sync under way there goes on gating it.
func (v *View) Inherit(old *View, self string) {
	if old == nil {
		return
	}
	for p := range v.ready {
		if p < len(old.ready) && old.ring.Primary(p) == self {
			v.ready[p] = old.ready[p]
		}
	}
}

// Gate makes partition p not ready, and returns the channel to close once it is.
func (v *View) Gate(p int) chan struct{} {
	c := make(chan struct{})
	v.ready[p] = c
	return c
}

// WithMembers is v with members' states refreshed; the ring is the same.
func (v *View) WithMembers(members map[string]membership.Member) *View {
	nv := *v
	nv.members = members
	return &nv
}

// Resynced is v installed anew at since, with readiness of its own to gate.
func (v *View) Resynced(since time.Time) *View {
	nv := *v
	nv.ready = slices.Clone(v.ready)
	nv.since = since
	return &nv
}

// Ring is the view's ring.
func (v *View) Ring() *ring.Ring { return v.ring }

// Since is when the node installed the view.
func (v *View) Since() time.Time { return v.since }

// Version is the ring's version.
func (v *View) Version() uint64 { return v.ring.Version() }

// Partitions is the ring's partition count.
func (v *View) Partitions() int { return v.ring.Partitions() }

// Replicas is partition p's replica set, primary first.
func (v *View) Replicas(p int) []string { return v.ring.Replicas(p) }

// PrimaryOf is the partition of slot and its primary.
func (v *View) PrimaryOf(slot int) (p int, primary string) {
	p = v.ring.PartitionOfSlot(slot)
	return p, v.ring.Primary(p)
}

// Addr is a member's replication address; ok is false for a non-member.
func (v *View) Addr(member string) (addr string, ok bool) {
	m, ok := v.members[member]
	return m.Repl, ok
}

// Repl is a member's replication address, "" for a non-member.
func (v *View) Repl(member string) string { return v.members[member].Repl }

// Names are the members' names, sorted.
func (v *View) Names() []string {
	names := make([]string, 0, len(v.members))
	for name := range v.members {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ByPartition groups ops by the partition of their slot, in order within each.
func (v *View) ByPartition(ops []sessions.Op) map[int][]sessions.Op {
	by := map[int][]sessions.Op{}
	for _, op := range ops {
		p := v.ring.PartitionOfSlot(op.Slot())
		by[p] = append(by[p], op)
	}
	return by
}

// Ready is closed once the node may serve partition p as its primary.
func (v *View) Ready(p int) <-chan struct{} { return v.ready[p] }

// IsReady reports whether Ready(p) is closed.
func (v *View) IsReady(p int) bool {
	select {
	case <-v.ready[p]:
		return true
	default:
		return false
	}
}
