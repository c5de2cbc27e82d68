package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/internal/faultnet"
	"github.com/sessiongate/sessiongate/sessions"
)

// A flight whose continuation is registered with whenDone runs it exactly once: on the
// goroutine that brings the last acknowledgement it needs, at once when nothing is missing,
// when a lease held by a backup whose copy failed runs out, or at the deadline with the
// undecided partitions failed.
func TestFlightDecidesItselfWhenDone(t *testing.T) {
	faults := faultnet.New()
	nodes := startCluster(t, 3, withReplFaults(faults)) // a majority: one backup's ack of two
	c := nodes[1].n.cluster
	v := c.view.Load()
	p := -1
	for i := 0; i < v.ring.Partitions(); i++ {
		if v.ring.Primary(i) == c.cfg.Name {
			p = i
			break
		}
	}
	if p < 0 {
		t.Fatal("n1 is primary of no partition")
	}
	id := newID(t, p)
	ops := []sessions.Op{{ID: id, Tenant: testTenant, Ended: true, Forget: time.Now().Add(time.Hour).UnixMilli()}}
	// The backups swallow copies: only the test's acks decide the flights.
	faults.Blackhole(nodes[0].n.cluster.cfg.ReplAddr, nodes[2].n.cluster.cfg.ReplAddr)

	start := func() (*flight, chan []error) {
		f := c.startReplication(v, []partOps{{p: p, ops: ops}})
		if len(f.targets) != 2 || f.done() {
			t.Fatalf("%d copies sent; decided before any acknowledgement: %v", len(f.targets), f.done())
		}
		return f, make(chan []error, 2)
	}
	ctx := ctxT(t)

	// Decided by an acknowledgement that comes later, on another goroutine.
	f, got := start()
	f.whenDone(ctx, func() { got <- f.errs })
	select {
	case errs := <-got:
		t.Fatalf("ran before its acknowledgement: %v", errs)
	default:
	}
	go f.ack(0, nil)
	if errs := <-got; errs[0] != nil {
		t.Fatalf("acknowledged: %v", errs[0])
	}

	// Decided already when registered: runs at once, on this goroutine.
	f, got = start()
	f.ack(0, nil)
	f.whenDone(ctx, func() { got <- f.errs })
	select {
	case errs := <-got:
		if errs[0] != nil {
			t.Fatal(errs[0])
		}
	default:
		t.Fatal("an already decided flight did not run its continuation at once")
	}

	// Both copies failed: the partition cannot be acknowledged.
	f, got = start()
	f.whenDone(ctx, func() { got <- f.errs })
	f.ack(0, errors.New("lost"))
	select {
	case errs := <-got:
		t.Fatalf("decided with one backup still to answer: %v", errs)
	default:
	}
	f.ack(1, errors.New("lost"))
	if errs := <-got; !errors.Is(errs[0], api.ErrTryAgain) {
		t.Fatalf("both copies failed: %v", errs[0])
	}

	// Enough acknowledgements, but a backup that holds a read lease failed its copy: the
	// write waits until that lease has run out.
	f, got = start()
	f.mu.Lock()
	f.targets[1].lease = c.leases.now() + int64(500*time.Millisecond)
	f.mu.Unlock()
	f.whenDone(ctx, func() { got <- f.errs })
	f.ack(0, nil)
	f.ack(1, errors.New("lost"))
	select {
	case errs := <-got:
		t.Fatalf("decided while the failed backup's lease ran: %v", errs)
	default:
	}
	if errs := <-got; errs[0] != nil {
		t.Fatalf("after the lease ran out: %v", errs[0])
	}

	// No acknowledgement at all: the deadline fails it, once; a late ack changes nothing.
	f, got = start()
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	f.whenDone(dctx, func() { got <- f.errs })
	errs := <-got
	if !errors.Is(errs[0], api.ErrTryAgain) {
		t.Fatalf("at the deadline: %v", errs[0])
	}
	f.ack(0, nil)
	select {
	case errs := <-got:
		t.Fatalf("ran a second time: %v", errs)
	case <-time.After(50 * time.Millisecond):
	}
}
