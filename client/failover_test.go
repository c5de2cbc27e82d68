package client

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/client/sgtest"
)

// Two standalone nodes: when the node in use dies, calls move to the survivor and keep
// succeeding. (Standalone nodes share no sessions, so each round starts its own.)
func TestRealFailoverStandalone(t *testing.T) {
	a, b := startNode(t), startNode(t)
	c := realClient(t, "failover-key", 3, a.Addr, b.Addr)
	ctx := context.Background()
	round := func(i int) {
		t.Helper()
		tok, err := c.Start(ctx, time.Minute)
		must(t, err)
		must(t, c.PSet(ctx, tok, "i", []byte(fmt.Sprint(i))))
		got, err := c.PGet(ctx, tok, "i")
		must(t, err)
		if string(got) != fmt.Sprint(i) {
			t.Fatalf("round %d read %q", i, got)
		}
	}
	for i := 0; i < 5; i++ {
		round(i)
	}
	a.Kill()
	for i := 5; i < 20; i++ {
		round(i)
	}
}

// A three-node cluster keeps every session when the node the client uses dies: the client
// moves to another node, which serves the session from its replicas.
func TestRealFailoverCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	if serverBin == "" {
		t.Skip("sessiongated did not build; see the message printed before the tests")
	}
	ctx := context.Background()
	nodes, err := sgtest.StartCluster(ctx, serverBin, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		t.Cleanup(n.Close)
	}
	// A generous budget: after a kill the survivors answer TRYAGAIN until failure detection
	// has moved the dead node's partitions, which takes seconds on a loaded machine.
	c, err := New(Config{Addrs: []string{nodes[0].Addr, nodes[1].Addr, nodes[2].Addr}, SignKey: []byte("cluster-key"),
		MaxRetries: 60, MaxBackoff: time.Second})
	must(t, err)
	defer c.Close()

	var toks []string
	for i := 0; i < 30; i++ {
		tok, err := c.Create(ctx, time.Hour, CreateOptions{Owner: fmt.Sprint("user", i%5)})
		must(t, err)
		must(t, c.PSet(ctx, tok, "i", []byte(fmt.Sprint(i))))
		toks = append(toks, tok)
	}
	nodes[0].Kill()
	for i, tok := range toks {
		got, err := c.PGet(ctx, tok, "i")
		if err != nil {
			t.Fatalf("session %d after the kill: %v", i, err)
		}
		if string(got) != fmt.Sprint(i) {
			t.Fatalf("session %d read %q", i, got)
		}
		must(t, c.PSet(ctx, tok, "after", []byte("kill")))
	}
	list, err := c.List(ctx, "user0")
	must(t, err)
	if len(list) != 6 {
		t.Fatalf("List user0 after the kill: %d sessions, want 6", len(list))
	}
}
