package view

import (
	"slices"
	"strings"

	"github.com/sessiongate/sessiongate/api"
)

// Health is what the node knows of its partitions beyond the view, for Report.
type Health struct {
	Replicas int              // the configured replica count
	Dirty    func(p int) bool // a backup of p missed a write not yet repaired (kept by p's primary)
	Pulling  func(p int) bool // the node is still filling its copy of p
}

// Report describes every partition and member of v as self sees it, for the cluster views.
func (v *View) Report(self string, h Health) ([]api.PartitionInfo, []api.Member) {
	counts := map[string][2]int{} // partitions each member is primary of, and holds
	parts := make([]api.PartitionInfo, v.ring.Partitions())
	for p := range parts {
		set := v.ring.Replicas(p)
		pi := api.PartitionInfo{Partition: p, Replicas: slices.Clone(set), Syncing: !v.IsReady(p)}
		pi.UnderReplicated = pi.Syncing || len(set) < h.Replicas || set[0] == self && h.Dirty(p) ||
			h.Pulling(p) && slices.Contains(set, self) // a backup's copy still filling
		for i, m := range set {
			if v.members[m].State != "alive" {
				pi.UnderReplicated = true
			}
			k := counts[m]
			if i == 0 {
				k[0]++
			}
			k[1]++
			counts[m] = k
		}
		parts[p] = pi
	}
	members := make([]api.Member, 0, len(v.members))
	for _, m := range v.members {
		members = append(members, api.Member{Name: m.Name, State: m.State, Gossip: m.Gossip, Repl: m.Repl,
			RESP: m.RESP, Primary: counts[m.Name][0], Held: counts[m.Name][1]})
	}
	slices.SortFunc(members, func(a, b api.Member) int { return strings.Compare(a.Name, b.Name) })
	return parts, members
}
