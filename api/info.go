package api

import (
	"slices"
	"strconv"
	"strings"
)

// Sections are a node's INFO sections: sessions, memory (the store's count against its
// MaxMemory), persistence (its data directory) and cluster.
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
	return append(out, Section{Name: "memory", Fields: st.MemoryFields()}, persistence(n.Persistence()), cl)
}

// persistence is the INFO section of a node's data directory, named as Redis's.
func persistence(p *Persistence) Section {
	if p == nil {
		return Section{Name: "persistence", Fields: [][2]string{{"data_dir_enabled", "0"}}}
	}
	refused := "0"
	if p.Refused != "" {
		refused = "1"
	}
	last := int64(0)
	if !p.LastSnapshot.IsZero() {
		last = p.LastSnapshot.Unix()
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	return Section{Name: "persistence", Fields: [][2]string{
		{"data_dir_enabled", "1"},
		{"fsync", p.Fsync},
		{"writes_refused", refused},
		{"writes_refused_reason", strings.NewReplacer("\r", " ", "\n", " ").Replace(p.Refused)}, // one line, whatever the path
		{"log_records", u(p.LogRecords)},
		{"log_bytes", u(p.LogBytes)},
		{"log_writes", u(p.LogWrites)},
		{"log_fsyncs", u(p.Fsyncs)},
		{"log_fsync_usec", i(p.FsyncTime.Microseconds())},
		{"snapshots", u(p.Snapshots)},
		{"last_snapshot_time", i(last)},
		{"last_snapshot_bytes", i(p.SnapshotBytes)},
		{"last_snapshot_ms", i(p.SnapshotTook.Milliseconds())},
		{"loaded_sessions", strconv.Itoa(p.Loaded)},
		{"load_ms", i(p.LoadTook.Milliseconds())},
	}}
}
