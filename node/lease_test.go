package node

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

func withReplicaReads(delay time.Duration) nodeOpt {
	return func(c *ClusterConfig) { c.ReplicaReadDelay = delay }
}

// waitLeases waits until every node holds a lease from each of its primaries.
func waitLeases(t testing.TB, nodes []*testNode) {
	t.Helper()
	eventually(t, 30*time.Second, "read leases", func() bool {
		for _, tn := range nodes {
			if tn.n.ClusterView().LeasesHeld != len(nodes)-1 {
				return false
			}
		}
		return true
	})
}

func TestBackupsAnswerReadsFromTheirCopies(t *testing.T) {
	nodes := startCluster(t, 3, withReplicaReads(100*time.Millisecond))
	ids := writeSessions(t, nodes, 30)
	waitLeases(t, nodes)
	for _, tn := range nodes {
		fwd, copies := tn.n.stats.Forwarded.Load(), tn.n.stats.CopyReads.Load()
		checkSessions(t, []*testNode{tn}, ids)
		if got := tn.n.stats.CopyReads.Load() - copies; got == 0 {
			t.Errorf("%s answered no read from its copy", tn.name)
		}
		if got := tn.n.stats.Forwarded.Load() - fwd; got != 0 {
			t.Errorf("%s forwarded %d reads while holding leases from every primary", tn.name, got)
		}
	}

}

// roles returns, for a session id, its partition's primary and backups among nodes.
func roles(t *testing.T, nodes []*testNode, id sessions.ID) (primary *testNode, backups []*testNode) {
	t.Helper()
	v := nodes[0].n.cluster.views.Load()
	set := v.Ring().Replicas(v.Ring().PartitionOfSlot(id.Slot()))
	for _, name := range set {
		for _, tn := range nodes {
			if tn.name == name {
				if primary == nil {
					primary = tn
				} else {
					backups = append(backups, tn)
				}
			}
		}
	}
	return primary, backups
}

func pget(t *testing.T, tn *testNode, id sessions.ID) string {
	t.Helper()
	res, err := doRetry(t, tn.n, sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
	if err != nil {
		t.Fatalf("PGET via %s: %v", tn.name, err)
	}
	return string(res.Data)
}

func pset(t *testing.T, tn *testNode, id sessions.ID, val string) {
	t.Helper()
	if _, err := doRetry(t, tn.n, sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte(val)}); err != nil {
		t.Fatalf("PSET via %s: %v", tn.name, err)
	}
}

// A write acknowledged through one node is what every other node reads next, though they
// answer from their own copies: even when one backup's copies are slow, so that the other
// backup alone would make the majority.
func TestReadsFromCopiesSeeAcknowledgedWrites(t *testing.T) {
	nodes := startCluster(t, 3, withReplicaReads(100*time.Millisecond))
	ids := writeSessions(t, nodes, 10)
	for i, tn := range nodes {
		tn.faults.Delay(nodes[(i+1)%3].repl, 20*time.Millisecond) // every write to that peer
		t.Cleanup(tn.faults.Heal)
	}
	waitLeases(t, nodes)
	copies := uint64(0)
	for _, tn := range nodes {
		copies -= tn.n.stats.CopyReads.Load()
	}
	for i := 0; i < 100; i++ {
		id := ids[i%len(ids)]
		val := fmt.Sprintf("write %d", i)
		pset(t, nodes[i%3], id, val)
		for _, tn := range nodes {
			if got := pget(t, tn, id); got != val {
				t.Fatalf("write %d through %s, read through %s: %q", i, nodes[i%3].name, tn.name, got)
			}
		}
	}
	for _, tn := range nodes {
		copies += tn.n.stats.CopyReads.Load()
	}
	if copies == 0 {
		t.Fatal("no read was answered from a copy: the test proves nothing")
	}
}

// A backup that stops acknowledging copies holds up writes only until its lease runs out,
// loses the lease (its reads go to the primary and see the write), and gets one again once
// anti-entropy has repaired it.
func TestASilentBackupLosesItsLease(t *testing.T) {
	nodes := startCluster(t, 3, withReplicaReads(100*time.Millisecond))
	ids := writeSessions(t, nodes, 1)
	id := ids[0]
	waitLeases(t, nodes)
	primary, backups := roles(t, nodes, id)
	silent := backups[0]
	if pget(t, silent, id) != id.String() {
		t.Fatal("first read")
	}
	primary.faults.Blackhole(silent.repl) // copies and grants to it vanish; gossip goes on
	pset(t, primary, id, "after")
	if got := pget(t, silent, id); got != "after" {
		t.Fatalf("the silent backup answered %q after the write was acknowledged", got)
	}
	if silent.n.cluster.repl.Holds(primary.name, silent.n.cluster.views.Load().Version()) {
		t.Fatal("the silent backup still holds a lease")
	}
	primary.faults.Heal()
	eventually(t, 30*time.Second, "the backup's lease again", func() bool {
		return silent.n.cluster.repl.Holds(primary.name, silent.n.cluster.views.Load().Version())
	})
	before := silent.n.stats.CopyReads.Load()
	if got := pget(t, silent, id); got != "after" {
		t.Fatalf("repaired backup answered %q", got)
	}
	if silent.n.stats.CopyReads.Load() == before {
		t.Fatal("the repaired backup did not answer from its copy")
	}
}

// Reads answered from a copy are counted on the primary.
func TestCopyReadsReachThePrimarysCounters(t *testing.T) {
	nodes := startCluster(t, 3, withReplicaReads(100*time.Millisecond))
	id := writeSessions(t, nodes, 1)[0]
	waitLeases(t, nodes)
	primary, backups := roles(t, nodes, id)
	info := func() *sessions.Info {
		res, err := doRetry(t, primary.n, sessions.Command{Kind: sessions.KindInfo, Tenant: testTenant, ID: id})
		if err != nil {
			t.Fatal(err)
		}
		return res.Info
	}
	start := info().Reads
	before := backups[0].n.stats.CopyReads.Load()
	for range 20 {
		pget(t, backups[0], id)
	}
	if got := backups[0].n.stats.CopyReads.Load() - before; got != 20 {
		t.Fatalf("%d of 20 reads answered from the copy", got)
	}
	// +1 for each INFO itself.
	eventually(t, 10*time.Second, "reads counted on the primary", func() bool { return info().Reads >= start+20 })
}

// In a pipeline, a read after a write of the same session sees the write, though the read
// alone would have been answered from a copy.
func TestPipelinedReadAfterWriteOfOneSession(t *testing.T) {
	nodes := startCluster(t, 3, withReplicaReads(100*time.Millisecond))
	ids := writeSessions(t, nodes, 20)
	waitLeases(t, nodes)
	for round := range 20 {
		for _, id := range ids {
			_, backups := roles(t, nodes, id)
			via := backups[round%len(backups)]
			val := []byte(fmt.Sprintf("round %d", round))
			outs := doBatch(ctxT(t), via.n, []*sessions.Command{
				{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")},
				{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: val},
				{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")},
			})
			for _, o := range outs {
				if o.Err != nil {
					t.Fatal(o.Err)
				}
			}
			if string(outs[2].Result.Data) != string(val) {
				t.Fatalf("read after write in one pipeline through %s: %q, want %q", via.name, outs[2].Result.Data, val)
			}
		}
	}
}

// A touch message whose ids and times do not pair up is refused, and touches nothing.
func TestMalformedTouchIsRefused(t *testing.T) {
	nodes := startCluster(t, 1)
	id := writeSessions(t, nodes, 1)[0]
	h := wire.Serve(handler{nodes[0].n.cluster}, nodes[0].n.store)
	for name, msg := range map[string]wire.TouchMsg{
		"short ids":  {IDs: id[:8], At: []int64{1}},
		"extra time": {IDs: id[:], At: []int64{1, 2}},
	} {
		raw, err := msgpack.Marshal(&msg)
		if err != nil {
			t.Fatal(err)
		}
		_, ok, err := h.ServeInline(context.Background(), wire.Touch, msgpack.NewDecoder(bytes.NewReader(raw)))
		if !ok || err == nil {
			t.Errorf("%s: ok %v err %v, want an error", name, ok, err)
		}
	}
	good := wire.TouchMsg{IDs: id[:], At: []int64{time.Now().UnixMilli()}}
	raw, _ := msgpack.Marshal(&good)
	if _, _, err := h.ServeInline(context.Background(), wire.Touch, msgpack.NewDecoder(bytes.NewReader(raw))); err != nil {
		t.Fatalf("good touch: %v", err)
	}
}

// A copy to a backup that must be dialled first does not hold up the copies to the others:
// the write is acknowledged by a majority while the dial is still under way.
func TestAWriteDoesNotWaitForADial(t *testing.T) {
	nodes := startCluster(t, 3)
	id := writeSessions(t, nodes, 1)[0]
	primary, backups := roles(t, nodes, id)
	slow := backups[0]
	primary.faults.Block(slow.repl) // cuts the open connection
	eventually(t, 10*time.Second, "the connection to be seen closed", func() bool {
		return !primary.n.cluster.client.Connected(slow.repl)
	})
	primary.faults.Heal()
	primary.faults.Delay(slow.repl, 5*time.Second) // the next dial takes 5 s
	t.Cleanup(primary.faults.Heal)
	// Within a deadline shorter than the dial: the copy to the slow backup must not be in
	// the way of the other's.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	cmd := sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte("while dialling")}
	if _, err := primary.n.Do(ctx, &cmd); err != nil {
		t.Fatalf("the write waited for the dial: %v", err)
	}
	if primary.n.cluster.client.Connected(slow.repl) {
		t.Fatal("the slow dial finished first: the test proves nothing")
	}
}

// A backup that cannot apply a copy it was sent gives up its leases at once.
func TestAnUnreadableCopyDropsTheLeases(t *testing.T) {
	nodes := startCluster(t, 3, withReplicaReads(100*time.Millisecond))
	writeSessions(t, nodes, 1)
	waitLeases(t, nodes)
	b := nodes[1]
	asked := b.n.cluster.repl.Held() // the requests outstanding before the failed copy
	if len(asked) == 0 {
		t.Fatal("no lease requests made: the test proves nothing")
	}
	h := wire.Serve(handler{b.n.cluster}, b.n.store)
	garbage := []byte{0xc1} // never used in msgpack
	if _, err := h.ServeCall(context.Background(), wire.Apply, msgpack.NewDecoder(bytes.NewReader(garbage))); err == nil {
		t.Fatal("a malformed copy was accepted")
	}
	if n := b.n.ClusterView().LeasesHeld; n != 0 {
		t.Fatalf("still holding %d leases after failing to apply a copy", n)
	}
	// A grant already on its way (queued behind the copy that failed) does not restore one.
	l := b.n.cluster.repl
	for name, h := range asked {
		l.Granted(&wire.LeaseMsg{From: name, Version: h.AskedVersion, Nonce: h.Nonce, Dur: int64(time.Second)})
		if l.Holds(name, h.AskedVersion) {
			t.Fatalf("a grant to a request made before the failed copy restored the lease from %s", name)
		}
	}
}

// A primary promises its own lease length, whatever its backups are set to, and a primary
// with leases off promises nothing.
func TestLeasesFollowThePrimarysSetting(t *testing.T) {
	lease := func(d time.Duration) nodeOpt { return func(c *ClusterConfig) { c.ReadLease = d } }
	delay := withReplicaReads(100 * time.Millisecond)
	short := startNode(t, "short", nil, delay, lease(300*time.Millisecond))
	long := startNode(t, "long", []string{short.gossip}, delay)
	off := startNode(t, "off", []string{short.gossip}, delay, lease(-1))
	nodes := []*testNode{short, long, off}
	waitMembers(t, nodes, 3)
	waitSettled(t, nodes)
	writeSessions(t, nodes, 3)
	l := long.n.cluster.repl
	version := func() uint64 { return long.n.cluster.views.Load().Version() }
	eventually(t, 30*time.Second, "a lease from the short-lease primary", func() bool { return l.Holds(short.name, version()) })
	h := l.Held()[short.name]
	if got := time.Duration(h.Until - h.Asked); got > 270*time.Millisecond {
		t.Fatalf("lease of %v from a primary promising 300ms", got)
	}
	// It has asked the primary with leases off as often, in vain.
	if l.Holds(off.name, version()) {
		t.Fatal("holds a lease from a primary with leases off")
	}
}
