package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/disk"
	"github.com/sessiongate/sessiongate/membership"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wal"
)

// diskNode creates a cluster node keeping its store in dir.
func diskNode(t *testing.T, dir string, ttl time.Duration, port int, name string, seeds []string, opts ...nodeOpt) *testNode {
	t.Helper()
	base := Config{Disk: &disk.Config{Dir: dir, Sync: wal.SyncAlways}, Store: sessions.Config{TombstoneTTL: ttl}}
	return createNodeWith(t, base, port, name, seeds, opts...)
}

// joinAll joins the nodes at once, as a cluster restarting together does: a node restarted on
// its data directory waits in Join for the others.
func joinAll(t *testing.T, nodes ...*testNode) {
	t.Helper()
	errs := make(chan error, len(nodes))
	for _, tn := range nodes {
		go func() { errs <- tn.n.Join(context.Background()) }()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatalf("join: %v", err)
		}
	}
}

// diskCluster starts size nodes with data directories under root, on the given ports (new
// ones when nil), each joining the first.
func diskCluster(t *testing.T, root string, ttl time.Duration, ports []int) []*testNode {
	t.Helper()
	var nodes []*testNode
	for i, port := range ports {
		var seeds []string
		if i > 0 {
			seeds = []string{nodes[0].gossip}
		}
		name := fmt.Sprintf("n%d", i)
		nodes = append(nodes, diskNode(t, filepath.Join(root, name), ttl, port, name, seeds))
	}
	joinAll(t, nodes...)
	waitMembers(t, nodes, len(nodes))
	waitSettled(t, nodes)
	return nodes
}

// requireNoSession fails unless every node answers that id does not exist.
func requireNoSession(t *testing.T, nodes []*testNode, id sessions.ID, what string) {
	t.Helper()
	for _, tn := range nodes {
		if _, err := tn.n.Do(ctxT(t), &sessions.Command{Kind: sessions.KindTTL, Tenant: testTenant, ID: id}); !errors.Is(err, sessions.ErrNoSession) {
			t.Fatalf("%s: %s: %v", tn.name, what, err)
		}
	}
}

func freePorts(t *testing.T, n int) []int {
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(t)
	}
	return ports
}

// A node alone keeps its sessions, payloads and ends across a restart.
func TestLoneNodeRestartsWithItsData(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Disk: &disk.Config{Dir: dir, Sync: wal.SyncAlways}, Logger: testLogger(t)}
	n, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	kept, ended := newID(t, 1), newID(t, 2)
	for _, id := range []sessions.ID{kept, ended} {
		mustDo(t, n, sessions.Command{Kind: sessions.KindStart, ID: id, TTL: 3600})
		mustDo(t, n, sessions.Command{Kind: sessions.KindPSet, ID: id, Name: []byte("v"), Data: []byte(id.String())})
	}
	mustDo(t, n, sessions.Command{Kind: sessions.KindEnd, ID: ended})
	n.Shutdown()

	n, err = Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	if l, ok := n.Loaded(); !ok || l.Sessions != 1 {
		t.Fatalf("loaded %+v (%v)", l, ok)
	}
	res, err := n.Do(ctx, &sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: kept, Name: []byte("v")})
	if err != nil || string(res.Data) != kept.String() {
		t.Fatalf("kept session after a restart: %q %v", res.Data, err)
	}
	if _, err := n.Do(ctx, &sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: ended, Name: []byte("v")}); !errors.Is(err, sessions.ErrNoSession) {
		t.Fatalf("ended session after a restart: %v", err)
	}
}

func mustDo(t *testing.T, n *Node, cmd sessions.Command) sessions.Result {
	t.Helper()
	cmd.Tenant = testTenant
	res, err := n.Do(ctxT(t), &cmd)
	if err != nil {
		t.Fatalf("%v: %v", cmd.Kind, err)
	}
	return res
}

// Every node of a cluster stops at once and comes back on its data directory: every
// acknowledged session is there, and nothing ended is back.
func TestWholeClusterRestartKeepsSessions(t *testing.T) {
	root, ports := t.TempDir(), freePorts(t, 3)
	nodes := diskCluster(t, root, 10*time.Minute, ports)
	ids := writeSessions(t, nodes, 60)
	endedID := ids[0]
	if _, err := doRetry(t, nodes[1].n, sessions.Command{Kind: sessions.KindEnd, Tenant: testTenant, ID: endedID}); err != nil {
		t.Fatal(err)
	}
	for _, tn := range nodes {
		tn.n.Shutdown()
	}
	nodes = diskCluster(t, root, 10*time.Minute, ports)
	checkSessions(t, nodes, ids[1:])
	requireNoSession(t, nodes, endedID, "the ended session after a restart")
}

// A node away longer than the tombstone TTL while the others ran discards its data: a
// session ended meanwhile, whose tombstone the others have forgotten, does not come back.
// A tombstone outlives the session's last deadline, so the stale copy must hold a later one
// than the ended session did: its lifetime was shortened before it was ended.
func TestStaleNodeDiscardsItsData(t *testing.T) {
	const ttl = time.Second
	root, ports := t.TempDir(), freePorts(t, 3)
	nodes := diskCluster(t, root, ttl, ports)
	id := writeSessions(t, nodes, 1)[0] // an hour to live, on n2's disk too
	nodes[2].n.Shutdown()
	waitMembers(t, nodes[:2], 2)
	for _, cmd := range []sessions.Command{
		{Kind: sessions.KindExpire, Tenant: testTenant, ID: id, TTL: 1},
		{Kind: sessions.KindEnd, Tenant: testTenant, ID: id},
	} {
		if _, err := doRetry(t, nodes[0].n, cmd); err != nil {
			t.Fatalf("%v: %v", cmd.Kind, err)
		}
	}
	eventually(t, 20*time.Second, "the others to forget the tombstone", func() bool {
		return !nodes[0].n.Store().Ended(id) && !nodes[1].n.Store().Ended(id)
	})
	time.Sleep(ttl) // n2's data is older than the TTL by now
	back := diskNode(t, filepath.Join(root, "n2"), ttl, ports[2], "n2", []string{nodes[0].gossip})
	joinAll(t, back)
	if _, ok := back.n.Store().Export(id); ok {
		t.Fatal("a stale node kept a session the others ended and forgot")
	}
	all := []*testNode{nodes[0], nodes[1], back}
	waitMembers(t, all, 3)
	time.Sleep(2 * time.Second) // anti-entropy rounds: nothing may bring it back
	requireNoSession(t, all, id, "an ended session came back")
}

// After a full-cluster restart longer than the tombstone TTL every member is as stale:
// they keep their data.
func TestStaleClusterKeepsItsData(t *testing.T) {
	const ttl = time.Second
	root, ports := t.TempDir(), freePorts(t, 3)
	nodes := diskCluster(t, root, ttl, ports)
	ids := writeSessions(t, nodes, 30)
	for _, tn := range nodes {
		tn.n.Shutdown()
	}
	time.Sleep(2 * ttl)
	nodes = diskCluster(t, root, ttl, ports)
	checkSessions(t, nodes, ids)
}

func TestKeepStale(t *testing.T) {
	now := int64(1_000_000)
	for _, tc := range []struct {
		stale []int64 // the other members' StaleUntil
		keep  bool
	}{
		{nil, true},                         // nobody else: a lone node, or seeds not up
		{[]int64{now + 1, now + 500}, true}, // everyone restarted stale, within a TTL
		{[]int64{now + 1, 0}, false},        // one member never was stale: it kept running
		{[]int64{now}, false},               // stale once, but running for a TTL since
	} {
		var members []membership.Member
		members = append(members, membership.Member{Name: "self", StaleUntil: 0})
		for i, s := range tc.stale {
			members = append(members, membership.Member{Name: fmt.Sprint("m", i), StaleUntil: s})
		}
		if got := keepStale(members, "self", now); got != tc.keep {
			t.Errorf("others stale until %v: keep %v, want %v", tc.stale, got, tc.keep)
		}
	}
}

// A node restarted on its data directory waits in Join until every member of its last view
// is back, so that it does not serve with only its own copies; past RestartWait it serves
// without the missing ones.
func TestRestartedNodeWaitsForItsMembers(t *testing.T) {
	root, ports := t.TempDir(), freePorts(t, 3)
	nodes := diskCluster(t, root, 10*time.Minute, ports)
	ids := writeSessions(t, nodes, 20)
	for _, tn := range nodes {
		tn.n.Shutdown()
	}
	wait := func(d time.Duration) nodeOpt { return func(c *ClusterConfig) { c.RestartWait = d } }
	restart := func(i int, d time.Duration) *testNode {
		var seeds []string
		if i > 0 {
			seeds = []string{nodes[0].gossip}
		}
		name := fmt.Sprintf("n%d", i)
		return diskNode(t, filepath.Join(root, name), 10*time.Minute, ports[i], name, seeds, wait(d))
	}

	// A restart cut short while it waits does not forget whom to wait for, though it saw
	// some of the members come back meanwhile.
	cut := []*testNode{restart(0, time.Minute), restart(1, time.Minute)}
	ctx, cancel := context.WithTimeout(ctxT(t), 2*time.Second)
	cuts := make(chan error, len(cut))
	for _, tn := range cut {
		go func() { cuts <- tn.n.Join(ctx) }()
	}
	for range cut {
		if err := <-cuts; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a join cut short: %v", err)
		}
	}
	cancel()
	waitMembers(t, cut, 2) // they saw each other
	for _, tn := range cut {
		tn.n.Shutdown()
	}

	n0, n1 := restart(0, time.Minute), restart(1, time.Minute)
	joined := make(chan error, 2)
	for _, tn := range []*testNode{n0, n1} {
		go func() { joined <- tn.n.Join(ctxT(t)) }()
	}
	select {
	case err := <-joined:
		t.Fatalf("joined without n2: %v", err)
	case <-time.After(time.Second):
	}
	n2 := restart(2, time.Minute)
	joinAll(t, n2)
	for range 2 {
		if err := <-joined; err != nil {
			t.Fatal(err)
		}
	}
	again := []*testNode{n0, n1, n2}
	waitMembers(t, again, 3)
	checkSessions(t, again, ids)
	for _, tn := range again {
		tn.n.Shutdown()
	}

	// Nobody comes: past RestartWait the node serves alone.
	alone := restart(1, 300*time.Millisecond)
	start := time.Now()
	if err := alone.n.Join(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("served alone after %v, before RestartWait", waited)
	}
	alone.n.Shutdown()
}

// brokenFile is a log segment whose writes fail while broken is set (a full disk).
type brokenFile struct {
	*os.File
	broken *atomic.Bool
}

func (f brokenFile) Write(b []byte) (int, error) {
	if f.broken.Load() {
		return 0, syscall.ENOSPC
	}
	return f.File.Write(b)
}

// A node whose disk is full refuses writes with MISCONF, acknowledging none, and goes on
// answering reads.
func TestFullDiskRefusesWritesServesReads(t *testing.T) {
	var broken atomic.Bool
	create := func(path string) (wal.File, error) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
		return brokenFile{f, &broken}, err
	}
	n, err := Create(Config{Disk: &disk.Config{Dir: t.TempDir(), Sync: wal.SyncAlways, Create: create}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	ctx := ctxT(t)
	id := newID(t, 1)
	mustDo(t, n, sessions.Command{Kind: sessions.KindStart, ID: id, TTL: 3600})
	mustDo(t, n, sessions.Command{Kind: sessions.KindPSet, ID: id, Name: []byte("v"), Data: []byte("kept")})
	broken.Store(true)
	pset := sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte("lost")}
	_, err = n.Do(ctx, &pset) // this one reaches the log and fails there
	if !errors.Is(err, disk.ErrDisk) || !strings.HasPrefix(err.Error(), "MISCONF") {
		t.Fatalf("a write the disk could not take: %v", err)
	}
	pset.Data = []byte("refused")
	if _, err := n.Do(ctx, &pset); !errors.Is(err, disk.ErrDisk) {
		t.Fatalf("a write while the disk is full: %v", err)
	}
	// The write that met the failure ran (its outcome was unknown); the refused one did not.
	res, err := n.Do(ctx, &sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
	if err != nil || string(res.Data) == "refused" {
		t.Fatalf("a read while the disk is full: %q %v", res.Data, err)
	}
}
