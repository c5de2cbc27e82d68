package resp

import (
	"strings"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
)

// cmdCluster shows the cluster as this node sees it:
//
//	SESSIONGATE.CLUSTER MEMBERS          name, state, gossip, repl, resp, primary_partitions, held_partitions
//	SESSIONGATE.CLUSTER PARTITIONS       partition, replicas (primary first), syncing, under_replicated
//	SESSIONGATE.CLUSTER UNDERREPLICATED  the partitions lacking a full, synced replica set
//	SESSIONGATE.CLUSTER HANDOFFS         syncs under way and how long the last round took
//	SESSIONGATE.CLUSTER LOCATE key token each member's own copy of the session (see cmdLocate)
func cmdCluster(c *client, sg *sessions.Signer, args [][]byte) reply {
	if strings.EqualFold(string(args[1]), "locate") {
		return cmdLocate(c, sg, args)
	}
	var v *api.ClusterView
	if c.s.cfg.Cluster != nil {
		v = c.s.cfg.Cluster()
	}
	if v == nil {
		return errReply("ERR this node runs alone (start it with --cluster-addr to form a cluster)")
	}
	partition := func(p api.PartitionInfo) reply {
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
	return errReply("ERR unknown subcommand '" + trunc(args[1]) + "'. Try MEMBERS, PARTITIONS, UNDERREPLICATED, HANDOFFS or LOCATE.")
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// cmdLocate answers SESSIONGATE.CLUSTER LOCATE key token: for every member, its own copy of
// the session (node, rank in the replica set, state, version, deadline, payload count, the
// id a rotated tombstone names, error), read without routing or repair. The token must be
// signed with key, as for any token command: a copy's state is the session's business.
func cmdLocate(c *client, sg *sessions.Signer, args [][]byte) reply {
	if len(args) != 4 {
		return errReply("ERR wrong number of arguments for 'sessiongate.cluster|locate' command")
	}
	cmd, e := tokenCmd(sg, args[2], args[3], nil)
	if e != "" {
		return errReply(e)
	}
	if !cmd.Settle() {
		return errReply(errSignature)
	}
	if c.s.cfg.Locate == nil {
		return errReply("ERR LOCATE is not available on this server")
	}
	var out []reply
	for _, cp := range c.s.cfg.Locate(c.s.ctx, cmd.ID) {
		out = append(out, reply{kind: rArray, isMap: true, array: []reply{
			bulk("node"), bulk(cp.Node), bulk("rank"), num(int64(cp.Rank)), bulk("state"), bulk(cp.State),
			bulk("version"), num(int64(cp.HVer)), bulk("deadline_ms"), num(cp.Deadline),
			bulk("payloads"), num(int64(cp.Fields)), bulk("next"), bulk(cp.Next), bulk("error"), bulk(cp.Err),
		}})
	}
	return reply{kind: rArray, array: out}
}
