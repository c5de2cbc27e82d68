package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/internal/faultnet"
	"github.com/sessiongate/sessiongate/quorum"
	"github.com/sessiongate/sessiongate/sessions"
)

// testNode is one in-process node on loopback sockets, with its own fault injector.
type testNode struct {
	name, gossip, repl string
	n                  *Node
	faults             *faultnet.Faults
}

var testTenant = sessions.TenantOf([]byte("test-key"))

// freePort returns a port free for both TCP and UDP, with the next port free for TCP too.
func freePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		u.Close()
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1))
		if err != nil {
			continue
		}
		l2.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

type nodeOpt func(*ClusterConfig)

func withAcks(a quorum.Acks) nodeOpt        { return func(c *ClusterConfig) { c.WriteAcks = a } }
func withPartitions(p int) nodeOpt          { return func(c *ClusterConfig) { c.Partitions = p } }
func withName(name string) nodeOpt          { return func(c *ClusterConfig) { c.Name = name } }
func withDropAfter(d time.Duration) nodeOpt { return func(c *ClusterConfig) { c.DropAfter = d } }
func withHandoffDelay(d time.Duration) nodeOpt {
	return func(c *ClusterConfig) { c.HandoffDelay = d }
}
func withAntiEntropy(d time.Duration) nodeOpt {
	return func(c *ClusterConfig) { c.AntiEntropyInterval = d }
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SESSIONGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startNode(t testing.TB, name string, seeds []string, opts ...nodeOpt) *testNode {
	t.Helper()
	return startNodeAt(t, freePort(t), name, seeds, opts...)
}

// startNodeAt starts a node whose gossip port is port (replication: port+1).
func startNodeAt(t testing.TB, port int, name string, seeds []string, opts ...nodeOpt) *testNode {
	t.Helper()
	tn := createNodeAt(t, port, name, seeds, opts...)
	if err := tn.n.Join(context.Background()); err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	return tn
}

// createNodeAt creates a node as startNodeAt does, but does not join it: its replication
// server already serves, from the view in which it is alone.
func createNodeAt(t testing.TB, port int, name string, seeds []string, opts ...nodeOpt) *testNode {
	t.Helper()
	return createNodeWith(t, Config{}, port, name, seeds, opts...)
}

// createNodeWith is createNodeAt with base as the node's configuration beyond the cluster's
// (a store's, a data directory).
func createNodeWith(t testing.TB, base Config, port int, name string, seeds []string, opts ...nodeOpt) *testNode {
	t.Helper()
	tn := &testNode{
		name:   name,
		gossip: "127.0.0.1:" + strconv.Itoa(port),
		repl:   "127.0.0.1:" + strconv.Itoa(port+1),
		faults: faultnet.New(),
	}
	cfg := ClusterConfig{
		Name: name, BindAddr: tn.gossip, Join: seeds, Partitions: 64,
		RejoinInterval: 500 * time.Millisecond, AntiEntropyInterval: time.Second,
		RPCTimeout: time.Second, Dial: tn.faults.Dial,
		Memberlist: func(mc *memberlist.Config) {
			// Fast failure detection so tests finish quickly.
			mc.ProbeInterval = 200 * time.Millisecond
			mc.ProbeTimeout = 100 * time.Millisecond
			mc.SuspicionMult = 2
			if raceBuild {
				// Slow enough that a stall of the whole process under the race detector
				// does not make its nodes declare each other dead.
				mc.ProbeTimeout = 500 * time.Millisecond
				mc.SuspicionMult = 6
			}
			mc.SuspicionMaxTimeoutMult = 2
			mc.GossipInterval = 50 * time.Millisecond
			mc.PushPullInterval = time.Second
			mc.GossipToTheDeadTime = 2 * time.Second
			mc.TCPTimeout = time.Second
			mc.DeadNodeReclaimTime = 100 * time.Millisecond
			nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
				BindAddrs: []string{"127.0.0.1"}, BindPort: port, Logger: mc.Logger,
			})
			if err != nil {
				t.Fatalf("transport: %v", err)
			}
			mc.Transport = tn.faults.Transport(nt)
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	base.Cluster, base.Logger, base.SweepInterval = &cfg, testLogger(t).With("test-node", name), 50*time.Millisecond
	n, err := Create(base)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	tn.n = n
	t.Cleanup(func() { n.Shutdown() })
	return tn
}

// startCluster starts n nodes, each joining the first, and waits until all see all.
func startCluster(t testing.TB, n int, opts ...nodeOpt) []*testNode {
	t.Helper()
	var nodes []*testNode
	for i := 0; i < n; i++ {
		var seeds []string
		if i > 0 {
			seeds = []string{nodes[0].gossip}
		}
		nodes = append(nodes, startNode(t, fmt.Sprintf("n%d", i), seeds, opts...))
	}
	waitMembers(t, nodes, n)
	waitSettled(t, nodes)
	return nodes
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitMembers(t testing.TB, nodes []*testNode, want int) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%d members in every view", want), func() bool {
		for _, tn := range nodes {
			if len(tn.n.ClusterView().Members) != want {
				return false
			}
		}
		return true
	})
}

// waitSettled waits until no node is syncing a partition.
func waitSettled(t testing.TB, nodes []*testNode) {
	t.Helper()
	eventually(t, 30*time.Second, "partition syncs to finish", func() bool {
		for _, tn := range nodes {
			if tn.n.ClusterView().SyncsInProgress != 0 {
				return false
			}
		}
		return true
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newID(t *testing.T, slot int) sessions.ID {
	id, err := sessions.NewID(rand.Reader, slot)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// remoteID draws session ids until one has a primary other than via.
func remoteID(t *testing.T, via *testNode) sessions.ID {
	for {
		if id := newID(t, -1); primaryOf(via, id) != via.name {
			return id
		}
	}
}

// cutOff isolates iso from others, both ways, for gossip and replication alike.
func cutOff(iso *testNode, others []*testNode) {
	for _, other := range others {
		iso.faults.Block(other.gossip, other.repl)
		other.faults.Block(iso.gossip, iso.repl)
	}
}

// doRetry runs a command, retrying retryable cluster errors as a client would.
func doRetry(t *testing.T, n *Node, cmd sessions.Command) (sessions.Result, error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for retried := false; ; retried = true {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		res, err := n.Do(ctx, &cmd)
		cancel()
		if retried && cmd.Kind == sessions.KindStart && errors.Is(err, sessions.ErrBadCommand) {
			// START is not retry-safe: an attempt that answered TRYAGAIN ("outcome unknown")
			// may have created the session, and the retry then finds its id taken.
			return res, nil
		}
		if !errors.Is(err, api.ErrTryAgain) || time.Now().After(deadline) {
			return res, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeSessions starts n sessions spread over the given nodes, each with a payload naming it.
func writeSessions(t *testing.T, nodes []*testNode, n int) []sessions.ID {
	t.Helper()
	ids := make([]sessions.ID, n)
	for i := range ids {
		via := nodes[i%len(nodes)].n
		ids[i] = newID(t, -1)
		if _, err := doRetry(t, via, sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: ids[i], TTL: 3600}); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if _, err := doRetry(t, via, sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: ids[i], Name: []byte("v"), Data: []byte(ids[i].String())}); err != nil {
			t.Fatalf("pset %d: %v", i, err)
		}
	}
	return ids
}

// checkSessions reads every session through every node and requires its last payload.
func checkSessions(t *testing.T, nodes []*testNode, ids []sessions.ID) {
	t.Helper()
	for _, tn := range nodes {
		for i, id := range ids {
			res, err := doRetry(t, tn.n, sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
			if err != nil || string(res.Data) != id.String() {
				t.Fatalf("session %d read through %s: %q %v", i, tn.name, res.Data, err)
			}
		}
	}
}

// startBenchCluster is a three-node cluster for benchmarks.
func startBenchCluster(b *testing.B) []*testNode { return startCluster(b, 3) }

// randReader is crypto-quality randomness for ids in benchmarks.
type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return rand.Read(p) }

// withReplFaults routes a node's replication dials through f, set up before it starts.
func withReplFaults(f *faultnet.Faults) nodeOpt { return func(c *ClusterConfig) { c.Dial = f.Dial } }

// doBatch runs n.DoBatch with outcomes of its own.
func doBatch(ctx context.Context, n *Node, cmds []*sessions.Command) []api.Outcome {
	out := make([]api.Outcome, len(cmds))
	n.DoBatch(ctx, cmds, out)
	return out
}
