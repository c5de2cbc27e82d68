package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/quorum"
	"github.com/sessiongate/sessiongate/sessions"
)

// A write forwarded by a backup of its partition comes back with its ops: the backup has the
// write when it answers, and the primary sends it no copy. Alone or in a pipeline.
func TestAForwardedWriteCarriesItsOpsBack(t *testing.T) {
	nodes := startCluster(t, 3, withReplicaReads(100*time.Millisecond))
	ids := writeSessions(t, nodes, 6)
	waitLeases(t, nodes)
	for round := range 3 {
		for _, id := range ids {
			_, backups := roles(t, nodes, id)
			via := backups[round%len(backups)]
			applied := quietApplies(t, via)
			carried := via.n.stats.Carried.Load()
			val := fmt.Sprintf("round %d", round)
			if round == 2 {
				outs := doBatch(ctxT(t), via.n, []*sessions.Command{
					{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte("first")},
					{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte(val)},
				})
				for _, o := range outs {
					if o.Err != nil {
						t.Fatal(o.Err)
					}
				}
			} else {
				pset(t, via, id, val)
			}
			// Straight from the backup's store, with no wait: the answer was its copy.
			res, ok := via.n.store.ReadCopy(&sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
			if !ok || string(res.Data) != val {
				t.Fatalf("round %d: %s's copy holds %q (%v) when its write was acknowledged", round, via.name, res.Data, ok)
			}
			if got := via.n.stats.Carried.Load() - carried; got == 0 {
				t.Fatalf("round %d: %s applied no ops from the answer", round, via.name)
			}
			if got := via.n.stats.Applied.Load() - applied; got != 0 {
				t.Fatalf("round %d: the primary also sent %s %d ops as copies", round, via.name, got)
			}
		}
	}
	want := strconv.FormatUint(nodes[0].n.stats.Carried.Load(), 10)
	if got := infoField(nodes[0].n, "carried_ops"); got != want {
		t.Fatalf("INFO carried_ops %q, want %s", got, want)
	}
}

// quietApplies waits until tn has taken in no ops from other nodes for a while and returns
// its count. A write acknowledged by a majority may still be on its way to the third replica,
// and anti-entropy may push a slot it finds unequal meanwhile; under -race on a stalling
// machine that can reach the node during the next write and look like a copy of it.
func quietApplies(t *testing.T, tn *testNode) uint64 {
	t.Helper()
	last := tn.n.stats.Applied.Load()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(150 * time.Millisecond)
		now := tn.n.stats.Applied.Load()
		if now == last {
			return now
		}
		last = now
	}
	t.Fatalf("%s kept applying ops from other nodes for 10 s", tn.name)
	return 0
}

func infoField(n *Node, name string) string {
	for _, sec := range api.Sections(n) {
		for _, f := range sec.Fields {
			if f[0] == name {
				return f[1]
			}
		}
	}
	return ""
}

// A backup whose forwarded write failed after the primary may have run it drops its lease
// from that primary, and gets none until anti-entropy has repaired its copy: otherwise an END
// that ran on the primary, whose answer was lost, would leave the session readable there.
func TestAFailedForwardDropsTheLease(t *testing.T) {
	t.Run("alone", func(t *testing.T) { failedForward(t, false) })
	t.Run("in a pipeline", func(t *testing.T) { failedForward(t, true) })
}

// failedForward ends a session through a backup that gives up on the answer; in a pipeline,
// with a write of another session of the same primary, so that both travel in one message.
func failedForward(t *testing.T, pipeline bool) {
	nodes := startCluster(t, 3, withReplicaReads(100*time.Millisecond), withAntiEntropy(time.Hour))
	ids := writeSessions(t, nodes, 30) // (2/3)^29: no two share a primary once in 100 million
	waitLeases(t, nodes)
	id := ids[0]
	primary, backups := roles(t, nodes, id)
	via, other := backups[0], backups[1]
	var second sessions.ID
	for _, o := range ids[1:] {
		if p, _ := roles(t, nodes, o); p == primary {
			second = o
		}
	}
	if pipeline && second == (sessions.ID{}) {
		t.Fatal("no second session with the same primary among 30")
	}
	version := func() uint64 { return via.n.cluster.views.Load().Version() }
	if pget(t, via, id) != id.String() {
		t.Fatal("first read")
	}
	// The primary's END waits for the other backup (it holds a lease), long after the
	// forwarding node has given up on the answer.
	primary.faults.Delay(other.repl, 300*time.Millisecond)
	t.Cleanup(primary.faults.Heal)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	end := &sessions.Command{Kind: sessions.KindEnd, Tenant: testTenant, ID: id}
	if pipeline {
		batches := via.n.stats.Batches.Load()
		outs := doBatch(ctx, via.n, []*sessions.Command{end,
			{Kind: sessions.KindPSet, Tenant: testTenant, ID: second, Name: []byte("v"), Data: []byte("x")}})
		if outs[0].Err == nil {
			t.Fatal("the END was answered within 50 ms: the test proves nothing")
		}
		if via.n.stats.Batches.Load() == batches {
			t.Fatal("the two commands did not travel in one message: the test proves nothing")
		}
	} else if _, err := via.n.Do(ctx, end); err == nil {
		t.Fatal("the END was answered within 50 ms: the test proves nothing")
	}
	eventually(t, 10*time.Second, "the END on the primary", func() bool { return primary.n.store.Ended(id) })
	primary.faults.Heal()
	if via.n.store.Ended(id) {
		t.Fatal("the forwarding node has the END: the test proves nothing")
	}
	_, err := doRetry(t, via.n, sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
	if !errors.Is(err, sessions.ErrNoSession) {
		t.Fatalf("read through the forwarding node after the END ran: %v, want no session", err)
	}
	// Several lease requests later: still none, since the primary knows of the miss.
	time.Sleep(time.Second)
	if via.n.cluster.repl.Holds(primary.name, version()) {
		t.Fatal("the forwarding node holds a lease again before anti-entropy repaired it")
	}
	if !via.n.cluster.repl.Holds(other.name, version()) {
		t.Fatal("the lease from the other primary was dropped too")
	}
	primary.n.cluster.mover.AntiEntropy()
	if !via.n.store.Ended(id) {
		t.Fatal("anti-entropy did not bring the END")
	}
	eventually(t, 10*time.Second, "the lease again after anti-entropy", func() bool {
		return via.n.cluster.repl.Holds(primary.name, version())
	})
}

// A write that ran on the primary but failed its acks policy still comes back with its ops,
// and the forwarding node applies them: a retry that finds nothing left to change (a second
// END) would carry none, and the node's copy would keep what the primary no longer has.
func TestAFailedWriteStillCarriesItsOps(t *testing.T) {
	nodes := startCluster(t, 3, withAcks(quorum.AcksAll))
	id := writeSessions(t, nodes, 1)[0]
	primary, backups := roles(t, nodes, id)
	via, other := backups[0], backups[1]
	primary.faults.Block(other.repl)
	t.Cleanup(primary.faults.Heal)
	_, err := via.n.Do(ctxT(t), &sessions.Command{Kind: sessions.KindEnd, Tenant: testTenant, ID: id})
	if err == nil {
		t.Fatal("END acknowledged by two of three replicas under acks=all")
	}
	if !primary.n.store.Ended(id) {
		t.Fatal("the END did not run on the primary: the test proves nothing")
	}
	if !via.n.store.Ended(id) {
		t.Fatalf("the forwarding node's copy still has the session after the END failed with %v", err)
	}
}
