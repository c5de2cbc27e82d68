package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/internal/faultnet"
	"github.com/sessiongate/sessiongate/pipeline"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
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
		out := doBatch(ctxT(t), tn.n, cmds)
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
	id := remoteID(t, via)
	if _, err := doRetry(t, via.n, sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: id, TTL: 600}); err != nil {
		t.Fatal(err)
	}
	var cmds []*sessions.Command
	for i := 0; i < 3*pipeline.MaxCmds; i++ {
		kind := sessions.KindPGet
		if i%pipeline.MaxCmds == pipeline.MaxCmds-1 {
			kind = sessions.KindPSet // last of each message
		}
		cmds = append(cmds, &sessions.Command{Kind: kind, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte(fmt.Sprint(i))})
	}
	batches := via.n.Stats().Batches.Load()
	out := doBatch(ctxT(t), via.n, cmds)
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
		last := i/pipeline.MaxCmds*pipeline.MaxCmds - 1 // the PSET before this message
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
type oldPeer struct{ h replication.InlineHandler }

func (p oldPeer) ServeCall(ctx context.Context, m replication.Method, dec *msgpack.Decoder) (any, error) {
	if m == wire.ForwardBatch {
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
	srv := replication.NewServer(replication.ServerConfig{}, oldPeer{wire.Serve(handler{nodes[1].n.cluster}, nodes[1].n.store)})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	var cmds []*sessions.Command
	var idx []int
	for i, id := range ids {
		cmds = append(cmds, &sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
		idx = append(idx, i)
	}
	out := make([]api.Outcome, len(cmds))
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

// Commands a primary can run at once are run on the connection's reader: reads, and writes
// whose acknowledgements are in as soon as their copies are sent (the forwarding backup's
// is its answer); a write that must wait for one has its answer deferred. Commands for
// another primary, and any that may need a read repair, go to a worker from the start.
func TestServeInlineRunsWhatWaitsOnNothingBeforeItRuns(t *testing.T) {
	faults := faultnet.New()
	nodes := startCluster(t, 2, withReplFaults(faults))
	ids := writeSessions(t, nodes, 20)
	c := nodes[1].n.cluster
	h := wire.Serve(handler{c}, c.n.store)
	call := func(m replication.Method, req any) (any, bool, error) {
		raw, err := msgpack.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		dec := msgpack.NewDecoder(bytes.NewReader(raw))
		return h.ServeInline(ctxT(t), m, dec)
	}
	read := func(id sessions.ID) *wire.CommandMsg {
		return &wire.CommandMsg{Cmd: sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")}, Hops: 1}
	}
	write := func(id sessions.ID, val, via string) *wire.CommandMsg {
		return &wire.CommandMsg{Cmd: sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte(val)}, Hops: 1, Via: via}
	}
	var mine, theirs sessions.ID
	for _, id := range ids {
		if primaryOf(nodes[1], id) == nodes[1].name {
			mine = id
		} else {
			theirs = id
		}
	}
	backup := nodes[0].name
	if _, ok, _ := call(wire.Forward, read(mine)); ok {
		t.Fatal("a read inside the repair window was answered inline")
	}
	if _, ok, _ := call(wire.Forward, write(mine, "early", backup)); ok {
		t.Fatal("a write inside the repair window was run inline")
	}
	// Leave the repair window behind.
	c.views.Store(c.views.Load().Resynced(time.Now().Add(-repairWindow - time.Second)))

	resp, ok, err := call(wire.Forward, read(mine))
	if !ok || err != nil || string(resp.(*wire.ResultMsg).Result.Data) != mine.String() {
		t.Fatalf("read as primary: ok=%v %v %+v", ok, err, resp)
	}
	if _, ok, _ := call(wire.Forward, read(theirs)); ok {
		t.Fatal("a read for another primary was answered inline")
	}
	if _, ok, _ := call(wire.Forward, write(theirs, "x", backup)); ok {
		t.Fatal("a write for another primary was run inline")
	}

	// Forwarded by the backup: its answer is its copy, so nothing is left to wait for.
	writes, waits, grouped := c.n.stats.InlineWrites.Load(), c.n.stats.InlineWaits.Load(), c.n.stats.Grouped.Load()
	resp, ok, err = call(wire.Forward, write(mine, "carried", backup))
	res, isResult := resp.(*wire.ResultMsg)
	if !ok || err != nil || !isResult || res.Err() != nil || len(res.Ops) == 0 {
		t.Fatalf("write forwarded by its backup: ok=%v %v %+v", ok, err, resp)
	}
	if c.n.stats.InlineWrites.Load() != writes+1 || c.n.stats.InlineWaits.Load() != waits {
		t.Fatalf("inline writes %d -> %d, waits %d -> %d; want one write and no wait",
			writes, c.n.stats.InlineWrites.Load(), waits, c.n.stats.InlineWaits.Load())
	}
	if got := c.n.stats.Grouped.Load(); got != grouped {
		t.Fatalf("grouped writes %d -> %d: a lone write is no group", grouped, got)
	}

	// Forwarded by nobody (no carrier), to a backup that never answers: the write runs, a
	// read behind it sees it, and its answer is deferred until the acknowledgement it needs,
	// which never comes, so the write reports that it may not have reached its replicas.
	faults.Blackhole(nodes[0].n.cluster.cfg.ReplAddr)
	resp, ok, err = call(wire.Forward, write(mine, "unacked", ""))
	deferred, isDeferred := resp.(replication.Deferred)
	if !ok || err != nil || !isDeferred {
		t.Fatalf("write waiting for its backup: ok=%v %v %T", ok, err, resp)
	}
	if c.n.stats.InlineWaits.Load() != waits+1 {
		t.Fatalf("inline waits %d, want %d", c.n.stats.InlineWaits.Load(), waits+1)
	}
	if got, want := infoField(c.n, "inline_waits"), strconv.FormatUint(waits+1, 10); got != want {
		t.Fatalf("INFO inline_waits %q, want %s", got, want)
	}
	if got, want := infoField(c.n, "inline_writes"), strconv.FormatUint(c.n.stats.InlineWrites.Load(), 10); got != want || want == "0" {
		t.Fatalf("INFO inline_writes %q, want %s (not 0)", got, want)
	}
	if r, ok, _ := call(wire.Forward, read(mine)); !ok || string(r.(*wire.ResultMsg).Result.Data) != "unacked" {
		t.Fatalf("read behind the waiting write: ok=%v %+v", ok, r)
	}
	answered := make(chan any, 1)
	deferred(func(resp any, err error) {
		if err != nil {
			t.Error(err)
		}
		answered <- resp
	})
	resp = <-answered
	if res, _ := resp.(*wire.ResultMsg); err != nil || res == nil || !errors.Is(res.Err(), api.ErrTryAgain) {
		t.Fatalf("the unacknowledged write: %v %+v", err, resp)
	}
	faults.Heal()

	// A batch runs as one group, in order: the read after the write sees it.
	batch := wire.BatchMsg{Cmds: []sessions.Command{read(mine).Cmd, write(mine, "batched", "").Cmd, read(mine).Cmd}, Hops: 1, Via: backup}
	resp, ok, err = call(wire.ForwardBatch, &batch)
	br, _ := resp.(*wire.BatchResultMsg)
	if !ok || err != nil || br == nil || len(br.Results) != 3 {
		t.Fatalf("batch as primary: ok=%v %v %T", ok, err, resp)
	}
	if got := string(br.Results[0].Result.Data); got != "unacked" { // it stands here (replicate)
		t.Fatalf("batch read before its write: %q", got)
	}
	if got := string(br.Results[2].Result.Data); got != "batched" || len(br.Results[1].Ops) == 0 {
		t.Fatalf("batch read after its write: %q; the write carried %d ops", got, len(br.Results[1].Ops))
	}
	batch.Cmds = append(batch.Cmds, read(theirs).Cmd)
	if _, ok, _ := call(wire.ForwardBatch, &batch); ok {
		t.Fatal("a batch with a command for another primary was run inline")
	}
}
