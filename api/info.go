package api

import (
	"slices"
	"strconv"
)

// Sections are a node's INFO sections: sessions, memory (the store's count against its
// MaxMemory), and cluster.
func Sections(n Node) []Section {
	st, c := n.StoreStats(), n.Counters()
	out := []Section{{Name: "sessions", Fields: [][2]string{
		{"sessions", strconv.Itoa(st.Sessions)},
		{"tombstones", strconv.Itoa(st.Tombstones)},
		{"blob_bytes", strconv.FormatInt(st.BlobBytes, 10)},
		{"expired_sessions", strconv.FormatUint(c.Expired, 10)},
		{"commands_executed", strconv.FormatUint(c.Commands, 10)},
		{"commands_forwarded", strconv.FormatUint(c.Forwarded, 10)},
		{"forward_batches", strconv.FormatUint(c.Batches, 10)},
		{"copy_reads", strconv.FormatUint(c.CopyReads, 10)},
	}}}
	cl := Section{Name: "cluster", Fields: [][2]string{{"cluster_enabled", "0"}}}
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
			{"replicated_ops", strconv.FormatUint(c.Replicated, 10)},
			{"replication_failures", strconv.FormatUint(c.ReplFailed, 10)},
			{"applied_ops", strconv.FormatUint(c.Applied, 10)},
			{"carried_ops", strconv.FormatUint(c.Carried, 10)},
			{"grouped_writes", strconv.FormatUint(c.Grouped, 10)},
			{"inline_writes", strconv.FormatUint(c.InlineWrites, 10)},
			{"inline_waits", strconv.FormatUint(c.InlineWaits, 10)},
			{"read_leases_held", strconv.Itoa(v.LeasesHeld)},
		}
	}
	return append(out, Section{Name: "memory", Fields: st.MemoryFields()}, cl)
}
