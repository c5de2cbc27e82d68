package client

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/client/sgtest"
)

// serverBin is the sessiongated binary built for this test run, or "" when it would not
// build; tests against a real node skip then.
var serverBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "client-test")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	serverBin, err = sgtest.Build(ctx, dir)
	cancel()
	var node *sgtest.Node
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: skipping tests against a real node, sessiongated does not build: %v\n", err)
		skipExamples()
	} else if node, err = sgtest.Start(context.Background(), serverBin); err != nil {
		fmt.Fprintf(os.Stderr, "client: skipping the examples, sessiongated does not start: %v\n", err)
		skipExamples()
	} else {
		// The examples connect to SESSIONGATE_ADDR, as an application would be configured.
		os.Setenv("SESSIONGATE_ADDR", node.Addr)
	}
	code := m.Run()
	if node != nil {
		node.Close()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// skipExamples keeps the examples, which need a node, from running.
func skipExamples() {
	skip := "^Example"
	if s := flag.Lookup("test.skip").Value.String(); s != "" {
		skip = s + "|" + skip
	}
	flag.Set("test.skip", skip)
}

// startNode starts a fresh standalone node for one test, or skips.
func startNode(t testing.TB, args ...string) *sgtest.Node {
	t.Helper()
	if serverBin == "" {
		t.Skip("sessiongated did not build; see the message printed before the tests")
	}
	n, err := sgtest.Start(context.Background(), serverBin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}
