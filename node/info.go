package node

import (
	"slices"
	"strconv"

	"github.com/sessiongate/sessiongate/api"
)

// InfoSections returns the node's INFO sections: sessions, memory (the store's count against its
// MaxMemory), and cluster when clustered.
func (n *Node) InfoSections() []api.Section {
	st := n.store.Stats()
	out := []api.Section{{Name: "sessions", Fields: [][2]string{
		{"sessions", strconv.Itoa(st.Sessions)},
		{"tombstones", strconv.Itoa(st.Tombstones)},
		{"blob_bytes", strconv.FormatInt(st.BlobBytes, 10)},
		{"expired_sessions", strconv.FormatUint(n.stats.Expired.Load(), 10)},
		{"commands_executed", strconv.FormatUint(n.stats.Commands.Load(), 10)},
		{"commands_forwarded", strconv.FormatUint(n.stats.Forwarded.Load(), 10)},
		{"forward_batches", strconv.FormatUint(n.stats.Batches.Load(), 10)},
		{"copy_reads", strconv.FormatUint(n.stats.CopyReads.Load(), 10)},
	}}}
	cl := api.Section{Name: "cluster", Fields: [][2]string{{"cluster_enabled", "0"}}}
	if v := n.ClusterView(); v != nil {
		under := 0
		primary, held := 0, 0
		for _, p := range v.Partitions {
			if p.UnderReplicated {
				under++
			}
			if p.Replicas[0] == v.Self {
				primary++
			}
			if slices.Contains(p.Replicas, v.Self) {
				held++
			}
		}
		cl.Fields = [][2]string{
			{"cluster_enabled", "1"},
			{"node_name", v.Self},
			{"members", strconv.Itoa(len(v.Members))},
			{"partitions", strconv.Itoa(len(v.Partitions))},
			{"replicas", strconv.Itoa(v.Replicas)},
			{"write_acks", v.WriteAcks},
			{"partitions_primary", strconv.Itoa(primary)},
			{"partitions_held", strconv.Itoa(held)},
			{"partitions_under_replicated", strconv.Itoa(under)},
			{"syncs_in_progress", strconv.FormatInt(v.SyncsInProgress, 10)},
			{"last_sync_ms", strconv.FormatInt(v.LastSyncMs, 10)},
			{"repairs", strconv.FormatUint(v.Repairs, 10)},
			{"replicated_ops", strconv.FormatUint(n.stats.Replicated.Load(), 10)},
			{"replication_failures", strconv.FormatUint(n.stats.ReplFailed.Load(), 10)},
			{"applied_ops", strconv.FormatUint(n.stats.Applied.Load(), 10)},
			{"carried_ops", strconv.FormatUint(n.stats.Carried.Load(), 10)},
			{"grouped_writes", strconv.FormatUint(n.stats.Grouped.Load(), 10)},
			{"inline_writes", strconv.FormatUint(n.stats.InlineWrites.Load(), 10)},
			{"inline_waits", strconv.FormatUint(n.stats.InlineWaits.Load(), 10)},
			{"read_leases_held", strconv.Itoa(n.cluster.leasesHeld())},
		}
	}
	return append(out, api.Section{Name: "memory", Fields: st.MemoryFields()}, cl)
}

// ClusterView returns a snapshot of the cluster, or nil when the node runs alone.
func (n *Node) ClusterView() *api.ClusterView {
	c := n.cluster
	if c == nil {
		return nil
	}
	v := c.view.Load()
	cv := &api.ClusterView{
		Self: c.cfg.Name, Replicas: c.cfg.Replicas, WriteAcks: c.cfg.WriteAcks.String(),
		SyncsInProgress: c.mover.InProgress(), LastSyncMs: c.mover.LastSyncMs(), Repairs: c.mover.Repairs(),
	}
	counts := map[string][2]int{}
	for p := 0; p < v.ring.Partitions(); p++ {
		set := v.ring.Replicas(p)
		pi := api.PartitionInfo{Partition: p, Replicas: slices.Clone(set)}
		select {
		case <-v.ready[p]:
		default:
			pi.Syncing = true
		}
		// Only a primary keeps the dirty flag of a partition (its backups missed a write).
		pi.UnderReplicated = pi.Syncing || len(set) < c.cfg.Replicas || set[0] == c.cfg.Name && c.mover.Dirty(p) ||
			c.mover.Pulling(p) && slices.Contains(set, c.cfg.Name) // a backup's copy still filling
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
		cv.Partitions = append(cv.Partitions, pi)
	}
	for _, m := range v.members {
		cv.Members = append(cv.Members, api.Member{Name: m.Name, State: m.State, Gossip: m.Gossip, Repl: m.Repl,
			RESP: m.RESP, Primary: counts[m.Name][0], Held: counts[m.Name][1]})
	}
	slices.SortFunc(cv.Members, func(a, b api.Member) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return cv
}
