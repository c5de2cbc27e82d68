package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
)

// primaryOf names the primary of id's partition in tn's view.
func primaryOf(tn *testNode, id sessions.ID) string {
	v := tn.n.ClusterView()
	return v.Partitions[id.Slot()%len(v.Partitions)].Replicas[0]
}

// A pipeline through any node gets every answer in order, its commands on one session see
// each other's effects in order, and the commands bound for one primary travel together.
func TestDoBatchThroughEveryNode(t *testing.T) {
	nodes := startCluster(t, 3)
	ids := writeSessions(t, nodes, 30)
	for _, tn := range nodes {
		var cmds []*sessions.Command
		remote := map[string]int{}
		for i, id := range ids {
			val := []byte(fmt.Sprintf("%s-%d", tn.name, i))
			cmds = append(cmds,
				&sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: val},
				&sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")},
				&sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("missing")})
			if p := primaryOf(tn, id); p != tn.name {
				remote[p] += 3
			}
		}
		forwarded, batches := tn.n.Stats().Forwarded.Load(), tn.n.Stats().Batches.Load()
		out := tn.n.DoBatch(ctxT(t), cmds)
		if len(out) != len(cmds) {
			t.Fatalf("%d outcomes for %d commands", len(out), len(cmds))
		}
		for i := range ids {
			want := fmt.Sprintf("%s-%d", tn.name, i)
			if err := out[3*i].Err; err != nil {
				t.Fatalf("via %s: PSET %d: %v", tn.name, i, err)
			}
			if got := string(out[3*i+1].Result.Data); got != want || out[3*i+1].Err != nil {
				t.Fatalf("via %s: PGET %d after PSET in the same batch = %q, %v; want %q", tn.name, i, got, out[3*i+1].Err, want)
			}
			if err := out[3*i+2].Err; !errors.Is(err, sessions.ErrNoPayload) {
				t.Fatalf("via %s: PGET of a missing payload: %v", tn.name, err)
			}
		}
		sent := 0
		for _, n := range remote {
			sent += n
		}
		if got := tn.n.Stats().Forwarded.Load() - forwarded; got != uint64(sent) {
			t.Errorf("via %s: %d commands forwarded, want %d", tn.name, got, sent)
		}
		if got := tn.n.Stats().Batches.Load() - batches; got != uint64(len(remote)) {
			t.Errorf("via %s: %d forward messages for %d remote primaries", tn.name, got, len(remote))
		}
	}
	checkSessionsValue(t, nodes, ids, func(i int) string { return fmt.Sprintf("%s-%d", nodes[2].name, i) })
}

func checkSessionsValue(t *testing.T, nodes []*testNode, ids []sessions.ID, want func(int) string) {
	t.Helper()
	for _, tn := range nodes {
		for i, id := range ids {
			res, err := doRetry(t, tn.n, sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
			if err != nil || string(res.Data) != want(i) {
				t.Fatalf("session %d read through %s: %q %v, want %q", i, tn.name, res.Data, err, want(i))
			}
		}
	}
}

// A batch too big for one message goes in several, in order: a write at the end of one
// message is seen by a read at the start of the next.
func TestDoBatchSplitsLargeBatchesInOrder(t *testing.T) {
	nodes := startCluster(t, 2)
	via := nodes[0]
	var id sessions.ID
	for {
		id = newID(t, -1)
		if primaryOf(via, id) != via.name {
			break
		}
	}
	if _, err := doRetry(t, via.n, sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: id, TTL: 600}); err != nil {
		t.Fatal(err)
	}
	var cmds []*sessions.Command
	for i := 0; i < 3*maxBatchCmds; i++ {
		kind := sessions.KindPGet
		if i%maxBatchCmds == maxBatchCmds-1 {
			kind = sessions.KindPSet // last of each message
		}
		cmds = append(cmds, &sessions.Command{Kind: kind, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte(fmt.Sprint(i))})
	}
	batches := via.n.Stats().Batches.Load()
	out := via.n.DoBatch(ctxT(t), cmds)
	if got := via.n.Stats().Batches.Load() - batches; got != 3 {
		t.Errorf("%d messages for %d commands, want 3", got, len(cmds))
	}
	for i, o := range out {
		if cmds[i].Kind == sessions.KindPSet {
			if o.Err != nil {
				t.Fatalf("PSET %d: %v", i, o.Err)
			}
			continue
		}
		last := i/maxBatchCmds*maxBatchCmds - 1 // the PSET before this message
		if last < 0 {
			if !errors.Is(o.Err, sessions.ErrNoPayload) {
				t.Fatalf("PGET %d before any PSET: %q %v", i, o.Result.Data, o.Err)
			}
			continue
		}
		if string(o.Result.Data) != fmt.Sprint(last) || o.Err != nil {
			t.Fatalf("PGET %d = %q %v, want the PSET of command %d", i, o.Result.Data, o.Err, last)
		}
	}
}

// oldPeer answers like a node of a version without batches: it knows single forwards only.
type oldPeer struct{ h handler }

func (p oldPeer) ServeCall(ctx context.Context, m replication.Method, dec *msgpack.Decoder) (any, error) {
	if m == methodForwardBatch {
		return nil, fmt.Errorf("unknown method %d", m)
	}
	return p.h.ServeCall(ctx, m, dec)
}

// A peer that does not know batches gets the commands one by one instead: nothing fails.
func TestDoBatchFallsBackForOlderPeers(t *testing.T) {
	nodes := startCluster(t, 2)
	ids := writeSessions(t, nodes, 10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := replication.NewServer(replication.ServerConfig{}, oldPeer{handler{nodes[1].n.cluster}})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	var cmds []*sessions.Command
	var idx []int
	for i, id := range ids {
		cmds = append(cmds, &sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
		idx = append(idx, i)
	}
	out := make([]Outcome, len(cmds))
	c := nodes[0].n.cluster
	ctx, cancel := context.WithTimeout(ctxT(t), c.cfg.CommandTimeout)
	defer cancel()
	c.forwardBatch(ctx, nodes[1].name, ln.Addr().String(), cmds, idx, out)
	for i, o := range out {
		if o.Err != nil || string(o.Result.Data) != ids[i].String() {
			t.Fatalf("PGET %d through the fallback: %q %v", i, o.Result.Data, o.Err)
		}
	}
}

// Reads a primary can answer at once are answered on the connection's reader; writes, reads
// it is not primary for, and reads that may need a read repair go to a worker.
func TestServeInlineOnlyForReadsThatWaitOnNothing(t *testing.T) {
	nodes := startCluster(t, 2)
	ids := writeSessions(t, nodes, 20)
	c := nodes[1].n.cluster
	h := handler{c}
	call := func(m replication.Method, req any) (any, bool, error) {
		raw, err := msgpack.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		dec := msgpack.NewDecoder(bytes.NewReader(raw))
		return h.ServeInline(ctxT(t), m, dec)
	}
	read := func(id sessions.ID) *commandMsg {
		return &commandMsg{Cmd: sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")}, Hops: 1}
	}
	var mine, theirs sessions.ID
	for _, id := range ids {
		if primaryOf(nodes[1], id) == nodes[1].name {
			mine = id
		} else {
			theirs = id
		}
	}
	if _, ok, _ := call(methodForward, read(mine)); ok {
		t.Fatal("a read inside the repair window was answered inline")
	}
	// Leave the repair window behind.
	v := *c.view.Load()
	v.since = time.Now().Add(-repairWindow - time.Second)
	c.view.Store(&v)

	resp, ok, err := call(methodForward, read(mine))
	if !ok || err != nil || string(resp.(*resultMsg).Result.Data) != mine.String() {
		t.Fatalf("read as primary: ok=%v %v %+v", ok, err, resp)
	}
	if _, ok, _ := call(methodForward, read(theirs)); ok {
		t.Fatal("a read for another primary was answered inline")
	}
	write := &commandMsg{Cmd: sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: mine, Name: []byte("v"), Data: []byte("x")}, Hops: 1}
	if _, ok, _ := call(methodForward, write); ok {
		t.Fatal("a write was answered inline")
	}
	batch := batchMsg{Cmds: []sessions.Command{read(mine).Cmd, read(mine).Cmd}, Hops: 1}
	resp, ok, err = call(methodForwardBatch, &batch)
	if !ok || err != nil || len(resp.(*batchResultMsg).Results) != 2 {
		t.Fatalf("batch of reads as primary: ok=%v %v %+v", ok, err, resp)
	}
	batch.Cmds = append(batch.Cmds, write.Cmd)
	if _, ok, _ := call(methodForwardBatch, &batch); ok {
		t.Fatal("a batch with a write was answered inline")
	}
}
