package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/sessiongate/sessiongate/node"
)

// gossipPort returns a port free for TCP and UDP whose next port (replication) is free too.
func gossipPort(t *testing.T) int {
	t.Helper()
	for range 50 {
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
		if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1)); err == nil {
			l2.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// startCluster starts n in-process nodes on loopback, each with its own REST gateway, and
// waits until every node sees every member and no partition is syncing.
func startCluster(t *testing.T, n int) []*gateway {
	t.Helper()
	var gws []*gateway
	var seed string
	for i := range n {
		port := gossipPort(t)
		cfg := &node.ClusterConfig{
			Name: fmt.Sprintf("n%d", i), BindAddr: "127.0.0.1:" + strconv.Itoa(port), Partitions: 64,
			RejoinInterval: 500 * time.Millisecond, AntiEntropyInterval: time.Second, RPCTimeout: time.Second,
			Memberlist: func(mc *memberlist.Config) {
				// Quick to converge, slow to suspect: a race-detector stall must not look like a death.
				mc.ProbeInterval, mc.ProbeTimeout, mc.SuspicionMult = 200*time.Millisecond, 500*time.Millisecond, 6
				mc.GossipInterval, mc.PushPullInterval, mc.TCPTimeout = 50*time.Millisecond, time.Second, time.Second
			},
		}
		if seed != "" {
			cfg.Join = []string{seed}
		}
		seed = cfg.BindAddr
		nd, err := node.Create(node.Config{Cluster: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Shutdown() })
		if err := nd.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
		gws = append(gws, newGateway(t, nd, false))
	}
	deadline := time.Now().Add(60 * time.Second) // a loaded machine settles slowly
	for settled := false; !settled; {
		settled = true
		for _, g := range gws {
			v := g.n.ClusterView()
			settled = settled && len(v.Members) == n && v.SyncsInProgress == 0
		}
		if time.Now().After(deadline) {
			t.Fatal("the cluster did not settle")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return gws
}

// Through three nodes in turn, a session read every half second never lapses (each node's
// get counts one read, and renewals reach the primary whichever node sends them); left alone
// it ends on time on every node.
func TestRESTSlidingTTLAcrossCluster(t *testing.T) {
	t.Parallel()
	gws := startCluster(t, 3)
	tok := slidingSession(t, gws[0].n, "dave", 4)
	sent, answered := keepAlive(t, gws, tok, 4, 9*time.Second)
	expiresOnTime(t, gws, tok, "dave", 4, sent, answered)

	// A session created through REST on one node reads the same through the others.
	_, body := request(t, "PUT", gws[1].url+"/create/erin?ip=10.0.0.5&ttl=60", `{"cart":1}`)
	tok = body["token"].(string)
	for i, g := range gws {
		code, body := request(t, "GET", g.url+"/get/"+tok, "")
		if d, _ := body["d"].(map[string]any); code != 200 || num(body, "r") != int64(i+1) || num(body, "ttl") != 60 || d["cart"] != 1.0 {
			t.Fatalf("get through node %d: %d %v", i, code, body)
		}
	}
}
