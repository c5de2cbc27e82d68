package api

// ClusterView is a snapshot of what one node knows of the cluster.
type ClusterView struct {
	Self            string
	Replicas        int
	WriteAcks       string
	Members         []Member
	Partitions      []PartitionInfo
	SyncsInProgress int64
	LastSyncMs      int64
	Repairs         uint64
	LeasesHeld      int // primaries whose read leases the node holds now
}

// Member is one member as the node sees it.
type Member struct {
	Name, State, Gossip, Repl, RESP string
	Primary, Held                   int // partitions
}

// PartitionInfo is one partition's replica set, primary first.
type PartitionInfo struct {
	Partition int
	Replicas  []string
	// Syncing is set while the node, as new primary, is still pulling the partition.
	Syncing bool
	// UnderReplicated is set when the partition has fewer replicas than configured, a replica
	// is not alive, a sync is under way (the node pulling it, as primary or as backup), or a
	// backup missed a write not yet repaired.
	UnderReplicated bool
}

// Copy is what one member holds of a session, as Locate found it.
type Copy struct {
	Node string
	// Rank is the member's place in the partition's replica set in the asking node's view:
	// 0 the primary, 1 and up a backup, -1 not a holder (a leftover or a stray copy).
	Rank int
	// State is "live", "ended" (a tombstone), "absent", or "unreachable" (Err says why).
	State    string
	HVer     uint64 // the header's version (a hybrid logical clock)
	Deadline int64  // unix ms, for a live copy
	Fields   int    // payloads held, deleted ones included
	Next     string // for a rotated id's tombstone, the id it was rotated into
	Err      string
}
