package node

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/sessiongate/sessiongate/clusterkey"
	"github.com/sessiongate/sessiongate/internal/devcert"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

const (
	secretA = "cluster-secret-A-0123456789"
	secretB = "cluster-secret-B-0123456789"
)

func withKeys(t testing.TB, secrets ...string) nodeOpt {
	var keys []clusterkey.Key
	for _, s := range secrets {
		k, err := clusterkey.New([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return func(c *ClusterConfig) { c.Keys = keys }
}

func TestProtectedMode(t *testing.T) {
	keys := []clusterkey.Key{{}}
	for _, tc := range []struct {
		name       string
		cfg        ClusterConfig
		warn, fail bool
	}{
		{"loopback, nothing", ClusterConfig{BindAddr: "127.0.0.1:7946", ReplAddr: "127.0.0.1:7947"}, true, false},
		{"localhost", ClusterConfig{BindAddr: "localhost:7946", ReplAddr: "[::1]:7947"}, true, false},
		{"all interfaces", ClusterConfig{BindAddr: "0.0.0.0:7946", ReplAddr: "0.0.0.0:7947"}, false, true},
		{"replication exposed", ClusterConfig{BindAddr: "127.0.0.1:7946", ReplAddr: "10.0.0.1:7947"}, false, true},
		{"a host name", ClusterConfig{BindAddr: "n1:7946", ReplAddr: "n1:7947"}, false, true},
		{"insecure on purpose", ClusterConfig{BindAddr: "0.0.0.0:7946", ReplAddr: "0.0.0.0:7947", Insecure: true}, true, false},
		{"a secret", ClusterConfig{BindAddr: "0.0.0.0:7946", ReplAddr: "0.0.0.0:7947", Keys: keys}, false, false},
		{"peer TLS", ClusterConfig{BindAddr: "0.0.0.0:7946", ReplAddr: "0.0.0.0:7947", PeerTLS: &PeerTLS{}}, false, false},
	} {
		warn, err := tc.cfg.checkProtected()
		if tc.fail != errors.Is(err, ErrInsecure) || warn != tc.warn {
			t.Errorf("%s: warn %v, err %v; want warn %v, refused %v", tc.name, warn, err, tc.warn, tc.fail)
		}
	}
	port := freePort(t)
	_, err := Create(Config{Cluster: &ClusterConfig{Name: "x", BindAddr: "0.0.0.0:" + strconv.Itoa(port)}, Logger: testLogger(t)})
	if !errors.Is(err, ErrInsecure) {
		t.Fatalf("Create on 0.0.0.0 without a secret: %v, want ErrInsecure", err)
	}
}

// A memberlist node without the secret (or with another) cannot join gossip: the members
// never see it, and it never sees them.
func TestRogueGossipMemberIsRefused(t *testing.T) {
	nodes := startCluster(t, 3, withKeys(t, secretA))
	other, _ := clusterkey.New([]byte(secretB))
	for _, key := range [][]byte{nil, other.Gossip()} {
		mc := memberlist.DefaultLocalConfig()
		mc.Name = "rogue"
		mc.BindAddr = "127.0.0.1"
		mc.BindPort = freePort(t)
		mc.SecretKey = key
		mc.LogOutput = &bytes.Buffer{}
		mc.TCPTimeout = 500 * time.Millisecond
		rogue, err := memberlist.Create(mc)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := rogue.Join([]string{nodes[0].gossip, nodes[1].gossip})
		time.Sleep(time.Second) // gossip rounds in which an admitted rogue would show up
		if n != 0 || rogue.NumMembers() != 1 {
			t.Errorf("rogue (key %x) reached %d members and sees %d", key, n, rogue.NumMembers())
		}
		for _, tn := range nodes {
			if m := len(tn.n.ClusterView().Members); m != 3 {
				t.Errorf("%s sees %d members after a rogue tried to join", tn.name, m)
			}
		}
		rogue.Shutdown()
	}
}

// A stranger on a member's replication port, speaking the protocol as a member would but
// without the secret, can neither end a session nor read one.
func TestStrangerOnReplicationPortGetsNothing(t *testing.T) {
	nodes := startCluster(t, 3, withKeys(t, secretA))
	id := newID(t, -1)
	if _, err := doRetry(t, nodes[0].n, sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: id, TTL: 3600}); err != nil {
		t.Fatal(err)
	}
	if _, err := doRetry(t, nodes[0].n, sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("role"), Data: []byte("user")}); err != nil {
		t.Fatal(err)
	}
	wrong, _ := clusterkey.New([]byte(secretB))
	for _, sec := range []*replication.Security{nil, {Name: "n1", Keys: []clusterkey.Key{wrong}}} {
		c := replication.NewClient(replication.ClientConfig{Security: sec})
		for _, tn := range nodes {
			for _, cmd := range []sessions.Command{
				{Kind: sessions.KindEnd, Tenant: testTenant, ID: id},
				{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("role"), Data: []byte("admin")},
			} {
				var res wire.ResultMsg
				err := c.Call(ctxT(t), tn.repl, wire.Forward, &wire.CommandMsg{Cmd: cmd}, &res)
				if !refused(sec, err) {
					t.Fatalf("a stranger's %v to %s: %v, want it refused", cmd.Kind, tn.name, err)
				}
			}
			var digests wire.DigestMsg
			if err := c.Call(ctxT(t), tn.repl, wire.Digest, &wire.DigestMsg{Slots: []uint16{uint16(id.Slot())}}, &digests); !refused(sec, err) {
				t.Fatalf("a stranger's digest request to %s: %v, want it refused", tn.name, err)
			}
		}
		c.Close()
	}
	for _, tn := range nodes {
		res, err := doRetry(t, tn.n, sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("role")})
		if err != nil || string(res.Data) != "user" {
			t.Fatalf("through %s after the stranger: %q, %v; want the session untouched", tn.name, res.Data, err)
		}
	}
}

// refused reports whether a stranger's call failed as it must: a failed handshake, or for a
// stranger that sends no handshake at all, a connection the member closed.
func refused(sec *replication.Security, err error) bool {
	if sec == nil {
		return errors.Is(err, replication.ErrUnavailable)
	}
	return errors.Is(err, replication.ErrHandshake)
}

// recorder keeps the bytes a node wrote on the links it dialled.
type recorder struct {
	mu   sync.Mutex
	sent map[string][]byte // by remote address
}

type recordedConn struct {
	net.Conn
	r    *recorder
	addr string
}

func (c *recordedConn) Write(p []byte) (int, error) {
	c.r.mu.Lock()
	c.r.sent[c.addr] = append(c.r.sent[c.addr], p...)
	c.r.mu.Unlock()
	return c.Conn.Write(p)
}

// Bytes a member sent to another, forwarded writes among them, replayed later by a stranger
// change nothing: the newer payload stays.
func TestReplayedForwardedWritesChangeNothing(t *testing.T) {
	rec := &recorder{sent: map[string][]byte{}}
	n0 := startNode(t, "n0", nil, withKeys(t, secretA))
	n1 := startNode(t, "n1", []string{n0.gossip}, withKeys(t, secretA), func(c *ClusterConfig) {
		c.Dial = func(network, addr string) (net.Conn, error) {
			nc, err := net.Dial(network, addr)
			if err != nil {
				return nil, err
			}
			return &recordedConn{Conn: nc, r: rec, addr: addr}, nil
		}
	})
	nodes := []*testNode{n0, n1}
	waitMembers(t, nodes, 2)
	waitSettled(t, nodes)
	// A session whose primary is n0, written through n1: the writes cross n1's link to n0.
	var id sessions.ID
	for {
		id = newID(t, -1)
		if n0.n.cluster.isPrimaryForSlot(int(id.Slot())) {
			break
		}
	}
	for _, v := range []string{"old", "new"} {
		if v == "old" {
			if _, err := doRetry(t, n1.n, sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: id, TTL: 3600}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := doRetry(t, n1.n, sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	rec.mu.Lock()
	captured := bytes.Clone(rec.sent[n0.repl])
	rec.mu.Unlock()
	if len(captured) == 0 {
		t.Fatal("nothing was recorded on n1's link to n0")
	}
	for range 2 {
		nc, err := net.Dial("tcp", n0.repl)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(captured)
		nc.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := nc.Read(buf); err != nil {
				break
			}
		}
		nc.Close()
	}
	for _, tn := range nodes {
		res, err := doRetry(t, tn.n, sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
		if err != nil || string(res.Data) != "new" {
			t.Fatalf("through %s after the replay: %q, %v; want \"new\"", tn.name, res.Data, err)
		}
	}
}

// A rolling restart that adds a new secret, then one that retires the old, moves a cluster
// from one secret to the other under write load without losing anything; gossip moves to the
// new secret once every member holds it.
func TestSecretRotationByRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts three nodes twice")
	}
	keyB, _ := clusterkey.New([]byte(secretB))
	usesB := func(phase int, nodes []*testNode) {
		eventually(t, 10*time.Second, fmt.Sprintf("phase %d: every node to gossip with the new secret", phase), func() bool {
			for _, tn := range nodes {
				if !bytes.Equal(tn.n.cluster.ml.GossipKey(), keyB.Gossip()) {
					return false
				}
			}
			return true
		})
	}
	rollingRestart(t, 3, []nodeOpt{withKeys(t, secretA)},
		[][]nodeOpt{{withKeys(t, secretB, secretA)}, {withKeys(t, secretB)}}, usesB)
}

// peerTLS makes mutual TLS for a node from a test CA.
func peerTLS(t testing.TB, ca *devcert.CA, name string) nodeOpt {
	leaf, err := ca.Issue(name, []string{"127.0.0.1"}, devcert.Server|devcert.Client, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := leaf.TLS()
	if err != nil {
		t.Fatal(err)
	}
	p := &PeerTLS{
		Server: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert},
		Client: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool()},
	}
	return func(c *ClusterConfig) { c.PeerTLS = p }
}

// With peer TLS alone, gossip carries no credential, so a member counts only once its
// replication port showed a certificate of the cluster's CA under its name: a rogue gossip
// member never enters the ring, and one with a certificate of another CA neither.
func TestPeerTLSAdmitsOnlyCertificateHolders(t *testing.T) {
	ca, err := devcert.NewCA("test cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*testNode
	for i := range 3 {
		var seeds []string
		if i > 0 {
			seeds = []string{nodes[0].gossip}
		}
		name := fmt.Sprintf("n%d", i)
		nodes = append(nodes, startNode(t, name, seeds, peerTLS(t, ca, name)))
	}
	waitMembers(t, nodes, 3)
	waitSettled(t, nodes)
	id := newID(t, -1)
	if _, err := doRetry(t, nodes[1].n, sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: id, TTL: 3600}); err != nil {
		t.Fatal(err)
	}

	other, err := devcert.NewCA("someone else", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rogue := startNode(t, "rogue", []string{nodes[0].gossip}, peerTLS(t, other, "rogue"))
	time.Sleep(2 * time.Second) // gossip and verification rounds in which it would be admitted
	for _, tn := range nodes {
		if m := len(tn.n.ClusterView().Members); m != 3 {
			t.Fatalf("%s counts %d members with a rogue in gossip", tn.name, m)
		}
	}
	if len(rogue.n.ClusterView().Members) != 1 {
		t.Fatalf("the rogue counts %d members", len(rogue.n.ClusterView().Members))
	}
	for _, tn := range nodes {
		if _, err := doRetry(t, tn.n, sessions.Command{Kind: sessions.KindTTL, Tenant: testTenant, ID: id}); err != nil {
			t.Fatalf("through %s: %v", tn.name, err)
		}
	}
}

func withTransition(c *ClusterConfig) { c.Transition = true }

// A running cluster without a secret takes one without downtime: a rolling restart that adds
// the secret in transition (links and gossip without it still accepted), then one without the
// transition, under write load, losing nothing. Gossip is encrypted once every member holds
// the secret.
func TestInsecureClusterTakesASecretByRollingRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts three nodes twice")
	}
	keyA, _ := clusterkey.New([]byte(secretA))
	encrypted := func(phase int, nodes []*testNode) {
		eventually(t, 10*time.Second, fmt.Sprintf("phase %d: every node to gossip encrypted", phase), func() bool {
			for _, tn := range nodes {
				if !bytes.Equal(tn.n.cluster.ml.GossipKey(), keyA.Gossip()) {
					return false
				}
			}
			return true
		})
	}
	rollingRestart(t, 3, nil, [][]nodeOpt{{withKeys(t, secretA), withTransition}, {withKeys(t, secretA)}}, encrypted)
}
