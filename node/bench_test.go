package node

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// BenchmarkOpCodec is the msgpack round trip of one replicated op (a PSET of 64 bytes).
func BenchmarkOpCodec(b *testing.B) {
	s := sessions.New(sessions.Config{})
	id, _ := sessions.NewID(bytes.NewReader(bytes.Repeat([]byte{9}, 64)), -1)
	s.Do(&sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: id, TTL: 60, Owner: []byte("user-42")})
	res, _ := s.Do(&sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("user"), Data: make([]byte, 64)})
	msg := wire.OpsMsg{Ops: res.Ops}
	var out wire.OpsMsg
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		raw, err := msgpack.Marshal(&msg)
		if err != nil {
			b.Fatal(err)
		}
		if err := msgpack.Unmarshal(raw, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// remoteIDs starts n sessions, each with a 64-byte payload "v", whose primary is not via.
func remoteIDs(b *testing.B, via *testNode, n int) []sessions.ID {
	v := via.n.ClusterView()
	var ids []sessions.ID
	for len(ids) < n {
		id, _ := sessions.NewID(randReader{}, -1)
		if v.Partitions[id.Slot()%len(v.Partitions)].Replicas[0] == via.name {
			continue
		}
		ctx := context.Background()
		if _, err := via.n.Do(ctx, &sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: id, TTL: 3600}); err != nil {
			b.Fatal(err)
		}
		via.n.Do(ctx, &sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: make([]byte, 64)})
		ids = append(ids, id)
	}
	return ids
}

// benchCluster runs PGET or PSET through a node that is primary for none of the sessions
// used, so every command is forwarded (and, for PSET, replicated to two backups). With
// leases, the node holds read leases from the primaries: PGETs are answered from its copy
// and PSETs wait for both backups.
func benchCluster(b *testing.B, kind sessions.Kind, leases bool) {
	var nodes []*testNode
	if leases {
		nodes = startCluster(b, 3, withReplicaReads(50*time.Millisecond))
		waitLeases(b, nodes)
	} else {
		nodes = startBenchCluster(b)
	}
	ids := remoteIDs(b, nodes[0], 100)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			cmd := sessions.Command{Kind: kind, Tenant: testTenant, ID: ids[i%len(ids)], Name: []byte("v"), Data: make([]byte, 64)}
			if _, err := nodes[0].n.Do(context.Background(), &cmd); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkForwardPGET(b *testing.B)  { benchCluster(b, sessions.KindPGet, false) }
func BenchmarkForwardPSET(b *testing.B)  { benchCluster(b, sessions.KindPSet, false) }
func BenchmarkCopyReadPGET(b *testing.B) { benchCluster(b, sessions.KindPGet, true) }
func BenchmarkLeasedPSET(b *testing.B)   { benchCluster(b, sessions.KindPSet, true) }

// BenchmarkForwardBatch16 is a pipeline of 16 PGETs through a node that is primary for none
// of them (DoBatch: one message per primary); ns/op is per command.
func BenchmarkForwardBatch16(b *testing.B) {
	nodes := startBenchCluster(b)
	ids := remoteIDs(b, nodes[0], 160)
	b.ResetTimer()
	benchBatches(b, nodes[0], func(id sessions.ID) *sessions.Command {
		return &sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")}
	}, ids)
}

// benchBatches sends pipelines of 16 commands made by cmd over ids through via (DoBatch),
// from parallel goroutines; each iteration is one command, a batch goes out every 16.
func benchBatches(b *testing.B, via *testNode, cmd func(sessions.ID) *sessions.Command, ids []sessions.ID) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		cmds, out := make([]*sessions.Command, 16), make([]api.Outcome, 16)
		i := 0
		for pb.Next() {
			if i%16 == 15 {
				for j := range cmds {
					cmds[j] = cmd(ids[(i+j)%len(ids)])
				}
				via.n.DoBatch(context.Background(), cmds, out)
				for _, o := range out {
					if o.Err != nil {
						b.Fatal(o.Err)
					}
				}
			}
			i++
		}
	})
}

// BenchmarkBatch16PSET is a pipeline of 16 PSETs whose primary is one node, run through
// that node (primary) or through another (forwarded, the primary gets them as one batch);
// ns/op is per command. Each pipeline's writes are replicated together (group.go).
func BenchmarkBatch16PSET(b *testing.B) {
	nodes := startBenchCluster(b)
	var mine []sessions.ID
	for len(mine) < 160 {
		for _, id := range remoteIDs(b, nodes[1], 160) {
			if primaryOf(nodes[0], id) == nodes[0].name && len(mine) < 160 {
				mine = append(mine, id)
			}
		}
	}
	for _, via := range []*testNode{nodes[0], nodes[1]} {
		name := "primary"
		if via != nodes[0] {
			name = "forwarded"
		}
		b.Run(name, func(b *testing.B) {
			benchBatches(b, via, func(id sessions.ID) *sessions.Command {
				return &sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: make([]byte, 64)}
			}, mine)
		})
	}
}
