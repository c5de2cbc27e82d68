package resp

import (
	"strings"

	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
)

// cmdCluster shows the cluster as this node sees it:
//
//	SESSIONGATE.CLUSTER MEMBERS          name, state, gossip, repl, resp, primary_partitions, held_partitions
//	SESSIONGATE.CLUSTER PARTITIONS       partition, replicas (primary first), syncing, under_replicated
//	SESSIONGATE.CLUSTER UNDERREPLICATED  the partitions lacking a full, synced replica set
//	SESSIONGATE.CLUSTER HANDOFFS         syncs under way and how long the last round took
func cmdCluster(c *client, _ *sessions.Signer, args [][]byte) reply {
	var v *node.ClusterView
	if c.s.cfg.Cluster != nil {
		v = c.s.cfg.Cluster()
	}
	if v == nil {
		return errReply("ERR this node runs alone (start it with --cluster-addr to form a cluster)")
	}
	bulk := func(s string) reply { return reply{kind: rBulk, bulk: []byte(s)} }
	num := func(n int64) reply { return reply{kind: rInt, n: n} }
	partition := func(p node.PartitionInfo) reply {
		reps := make([]reply, len(p.Replicas))
		for i, r := range p.Replicas {
			reps[i] = bulk(r)
		}
		return reply{kind: rArray, isMap: true, array: []reply{
			bulk("partition"), num(int64(p.Partition)),
			bulk("replicas"), {kind: rArray, array: reps},
			bulk("syncing"), num(b2i(p.Syncing)),
			bulk("under_replicated"), num(b2i(p.UnderReplicated)),
		}}
	}
	switch strings.ToUpper(string(args[1])) {
	case "MEMBERS":
		out := make([]reply, 0, len(v.Members))
		for _, m := range v.Members {
			out = append(out, reply{kind: rArray, isMap: true, array: []reply{
				bulk("name"), bulk(m.Name), bulk("state"), bulk(m.State), bulk("gossip"), bulk(m.Gossip),
				bulk("repl"), bulk(m.Repl), bulk("resp"), bulk(m.RESP),
				bulk("primary_partitions"), num(int64(m.Primary)), bulk("held_partitions"), num(int64(m.Held)),
			}})
		}
		return reply{kind: rArray, array: out}
	case "PARTITIONS", "UNDERREPLICATED":
		under := strings.EqualFold(string(args[1]), "underreplicated")
		var out []reply
		for _, p := range v.Partitions {
			if !under || p.UnderReplicated {
				out = append(out, partition(p))
			}
		}
		return reply{kind: rArray, array: out}
	case "HANDOFFS":
		var syncing []reply
		for _, p := range v.Partitions {
			if p.Syncing {
				syncing = append(syncing, num(int64(p.Partition)))
			}
		}
		return reply{kind: rArray, isMap: true, array: []reply{
			bulk("syncs_in_progress"), num(v.SyncsInProgress),
			bulk("syncing_partitions"), {kind: rArray, array: syncing},
			bulk("last_sync_ms"), num(v.LastSyncMs),
			bulk("repairs"), num(int64(v.Repairs)),
		}}
	}
	return errReply("ERR unknown subcommand '" + trunc(args[1]) + "'. Try MEMBERS, PARTITIONS, UNDERREPLICATED or HANDOFFS.")
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
