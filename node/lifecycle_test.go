package node

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// forwardTo sends cmd to tn's replication server as a forwarded command from the node from.
func forwardTo(t *testing.T, from, tn *testNode, cmd sessions.Command) *wire.ResultMsg {
	t.Helper()
	var resp wire.ResultMsg
	req := wire.CommandMsg{Cmd: cmd, Hops: 1, Via: from.name}
	if err := from.n.cluster.client.Call(ctxT(t), tn.repl, wire.Forward, &req, &resp); err != nil {
		t.Fatalf("forward to %s: %v", tn.name, err)
	}
	return &resp
}

// A node that serves replication but has not joined yet sees itself alone: primary of every
// partition, with no backups. A forwarded write it ran then would be acknowledged on its copy
// alone, and a forwarded read would deny sessions it has never seen. It refuses both until
// it has joined.
func TestNotYetJoinedNodeRefusesForwardedCommands(t *testing.T) {
	nodes := startCluster(t, 2)
	live := writeSessions(t, nodes, 1)[0]
	fresh := createNodeAt(t, freePort(t), "fresh", []string{nodes[0].gossip})

	id := newID(t, -1)
	start := sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: id, TTL: 3600}
	resp := forwardTo(t, nodes[0], fresh, start)
	if err := resp.Err(); err == nil || !strings.Contains(err.Error(), "has not joined") {
		t.Fatalf("a forwarded START before the join: %v, want TRYAGAIN ... has not joined", err)
	}
	if fresh.n.store.Stats().Sessions != 0 {
		t.Fatal("the refused START created a session anyway")
	}
	get := sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: live, Name: []byte("v")}
	if err := forwardTo(t, nodes[0], fresh, get).Err(); err == nil || !strings.Contains(err.Error(), "has not joined") {
		t.Fatalf("a forwarded PGET of a live session before the join: %v, want TRYAGAIN", err)
	}

	if err := fresh.n.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, append(nodes, fresh), 3)
	// Joined, it takes forwarded commands again (forwarding them on where it is not primary).
	eventually(t, 10*time.Second, "the joined node to run a forwarded PGET", func() bool {
		r := forwardTo(t, nodes[0], fresh, get)
		return r.Err() == nil && string(r.Result.Data) == live.String()
	})
}

// A backup that is still pulling a partition lacks what it has not pulled yet: the
// partition is reported under-replicated until its pulls are done, not only while a new
// primary is gated. Otherwise a rolling restart, waiting for UNDERREPLICATED to empty,
// takes the next node down while the last one is still empty.
func TestBackupPullsReportUnderReplicated(t *testing.T) {
	nodes := startCluster(t, 3)
	writeSessions(t, nodes, 20)
	port := freePort(t)
	late := createNodeAt(t, port, "late", []string{nodes[0].gossip})
	for _, o := range nodes {
		late.faults.Blackhole(o.repl) // its pulls go out and get no answer
	}
	t.Cleanup(late.faults.Heal)
	if err := late.n.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := append(nodes, late)
	waitMembers(t, all, 4)

	backupOf := func() []int { // partitions late holds as backup in its view
		var out []int
		for _, p := range late.n.ClusterView().Partitions {
			for _, m := range p.Replicas[1:] {
				if m == "late" {
					out = append(out, p.Partition)
				}
			}
		}
		return out
	}
	under := func() map[int]bool {
		out := map[int]bool{}
		for _, p := range late.n.ClusterView().Partitions {
			if p.UnderReplicated {
				out[p.Partition] = true
			}
		}
		return out
	}
	held := backupOf()
	if len(held) == 0 {
		t.Fatal("the new node is backup of no partition")
	}
	u := under()
	for _, p := range held {
		if !u[p] {
			t.Fatalf("partition %d, whose pull by its new backup cannot have finished, is not reported under-replicated", p)
		}
	}
	late.faults.Heal()
	eventually(t, 30*time.Second, "the pulls to finish and the report to clear", func() bool {
		u := under()
		for _, p := range backupOf() {
			if u[p] {
				return false
			}
		}
		return true
	})
}

// A leaving node's copy may be the only one of its last writes, so a push to a new holder
// that fails (a holder restarting, a dial refused a moment ago) is tried again before the
// node gives up on it and stops.
func TestLeaveRetriesAFailedPush(t *testing.T) {
	nodes := startCluster(t, 4)
	leaver, others := nodes[0], nodes[1:]
	// A session only the leaving node holds: written to its store alone, as the last write
	// of a partition it is primary of that no backup acknowledged yet. (A partition it does
	// not hold it does not push at all.)
	id := newID(t, -1)
	for primaryOf(leaver, id) != leaver.name {
		id = newID(t, -1)
	}
	if _, err := leaver.n.store.Do(&sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: id, TTL: 3600}); err != nil {
		t.Fatal(err)
	}
	for _, o := range others {
		leaver.faults.Block(o.repl)
	}
	healed := make(chan struct{})
	go func() {
		defer close(healed)
		for leaver.faults.Refused() == 0 { // a first push has failed
			time.Sleep(time.Millisecond)
		}
		leaver.faults.Heal()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := leaver.n.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	<-healed
	v := leaver.n.cluster.views.Load() // the view it left by: the others' next one
	for _, name := range v.Ring().Replicas(v.Ring().PartitionOfSlot(id.Slot())) {
		for _, o := range others {
			if o.name == name && !hasSession(o, id) {
				t.Errorf("new holder %s lacks the session only the leaving node had", name)
			}
		}
	}
}

// hasSession reports whether tn's own store holds id live.
func hasSession(tn *testNode, id sessions.ID) bool {
	op, ok := tn.n.store.Export(id)
	return ok && !op.Ended
}

// endInFence has a node that is neither primary nor backup of a session forward an END of it
// right after a view change, and returns once the primary has run it: the primary then waits
// out the read-lease fence before it answers. done gets the END's outcome.
func endInFence(t *testing.T) (primary *testNode, done <-chan error) {
	t.Helper()
	nodes := startCluster(t, 4)
	id := writeSessions(t, nodes, 1)[0]
	joiner := startNode(t, "n4", []string{nodes[0].gossip})
	all := append(slices.Clone(nodes), joiner)
	waitMembers(t, all, 5) // every node has just changed views: writes wait out the fence
	primary, backups := roles(t, all, id)
	var via *testNode
	for _, tn := range all {
		if tn != primary && !slices.Contains(backups, tn) {
			via = tn
		}
	}
	out := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, err := via.n.Do(ctx, &sessions.Command{Kind: sessions.KindEnd, Tenant: testTenant, ID: id})
		out <- err
	}()
	eventually(t, 5*time.Second, "the primary to run the END", func() bool { return primary.n.store.Ended(id) })
	return primary, out
}

// An END whose primary ended the session and was lost before it answered (stopped while it
// waited out the fence) is retried through the new primary, which finds the session ended.
// "Does not exist" would deny the END's own effect (chaos, rolling restart: the client took
// the session for live, and then lost), so the outcome is unknown instead.
func TestRetriedEndDoesNotDenyItsOwnEffect(t *testing.T) {
	primary, done := endInFence(t)
	primary.n.Shutdown() // before the fence lets it answer
	err := <-done
	if errors.Is(err, sessions.ErrNoSession) {
		t.Fatalf("the retried END said the session does not exist, though its first attempt ended it: %v", err)
	}
	if err != nil && !errors.Is(err, api.ErrTryAgain) {
		t.Fatalf("END: %v", err)
	}
}

// A primary that leaves while a forwarded write is waiting out the fence of a view change
// answers it before it stops: the write ran, and a retry elsewhere could not tell.
func TestLeavingPrimaryAnswersItsWrites(t *testing.T) {
	primary, done := endInFence(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := primary.n.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	primary.n.Shutdown()
	if err := <-done; err != nil {
		t.Fatalf("an END the leaving primary ran: %v, want it answered", err)
	}
}
