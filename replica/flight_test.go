package replica

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/quorum"
	"github.com/sessiongate/sessiongate/wire"
)

// A flight whose continuation is registered with WhenDone runs it exactly once: on the
// goroutine that brings the last acknowledgement it needs, at once when nothing is missing,
// when a lease held by a backup whose copy failed runs out, or at the deadline with the
// undecided partitions failed.
func TestFlightDecidesItselfWhenDone(t *testing.T) {
	// A majority: one backup's ack of two. The fake sender answers no copy: only the
	// test's acks decide the flights.
	r := newRig(t, "n1", quorum.AcksMajority, 0, nil, []string{"n1", "n0", "n2"})
	start := func() (*Flight, chan []error) {
		f := r.Start(r.view, []Part{{P: 0, Ops: ops(1)}})
		if len(f.targets) != 2 || f.Done() {
			t.Fatalf("%d copies sent; decided before any acknowledgement: %v", len(f.targets), f.Done())
		}
		return f, make(chan []error, 2)
	}
	ctx := ctxT(t)

	// Decided by an acknowledgement that comes later, on another goroutine.
	f, got := start()
	f.WhenDone(ctx, func() { got <- f.errs })
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
	f.WhenDone(ctx, func() { got <- f.errs })
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
	f.WhenDone(ctx, func() { got <- f.errs })
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
	f.targets[1].lease = r.Now() + int64(500*time.Millisecond)
	f.mu.Unlock()
	f.WhenDone(ctx, func() { got <- f.errs })
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
	f.WhenDone(dctx, func() { got <- f.errs })
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

// Each partition of a flight is decided by its own backups' answers, against the policy;
// each backup gets one copy with every op it must apply.
func TestFlightOutcomes(t *testing.T) {
	lost := errors.New("lost")
	abc := [][]string{{"a", "b", "c"}}
	for _, tc := range []struct {
		name    string
		acks    quorum.Acks
		sets    [][]string
		parts   []Part
		answers map[string]error // by backup; absent: no answer yet
		copies  map[string]int   // ops in each backup's copy
		settled bool
		failed  []bool // by part
		dirty   []int
	}{
		{"majority, nothing yet", quorum.AcksMajority, abc, []Part{{P: 0}}, nil,
			map[string]int{"b": 1, "c": 1}, false, []bool{false}, nil},
		{"majority, one ack", quorum.AcksMajority, abc, []Part{{P: 0}}, map[string]error{"b": nil},
			map[string]int{"b": 1, "c": 1}, true, []bool{false}, nil},
		{"majority, one failed", quorum.AcksMajority, abc, []Part{{P: 0}}, map[string]error{"b": lost},
			map[string]int{"b": 1, "c": 1}, false, []bool{false}, []int{0}},
		{"majority, both failed", quorum.AcksMajority, abc, []Part{{P: 0}}, map[string]error{"b": lost, "c": lost},
			map[string]int{"b": 1, "c": 1}, true, []bool{true}, []int{0, 0}},
		{"one needs no ack", quorum.AcksOne, abc, []Part{{P: 0}}, nil,
			map[string]int{"b": 1, "c": 1}, true, []bool{false}, nil},
		{"all, one failed", quorum.AcksAll, abc, []Part{{P: 0}}, map[string]error{"b": nil, "c": lost},
			map[string]int{"b": 1, "c": 1}, true, []bool{true}, []int{0}},
		{"all, the carrier and an ack", quorum.AcksAll, abc, []Part{{P: 0, Carrier: "b"}}, map[string]error{"c": nil},
			map[string]int{"c": 1}, true, []bool{false}, nil},
		{"all, the carrier alone", quorum.AcksAll, abc, []Part{{P: 0, Carrier: "b"}}, nil,
			map[string]int{"c": 1}, false, []bool{false}, nil},
		{"majority, the carrier is enough", quorum.AcksMajority, abc, []Part{{P: 0, Carrier: "b"}}, nil,
			map[string]int{"c": 1}, true, []bool{false}, nil},
		{"a carrier that is no backup gets a copy", quorum.AcksAll, abc, []Part{{P: 0, Carrier: "x"}}, map[string]error{"b": nil, "c": nil},
			map[string]int{"b": 1, "c": 1}, true, []bool{false}, nil},
		{"no backups", quorum.AcksAll, [][]string{{"a"}}, []Part{{P: 0}}, nil,
			map[string]int{}, true, []bool{false}, nil},
		{"a group: one part fails, one stands", quorum.AcksMajority, [][]string{{"a", "b", "c"}, {"a", "c", "d"}},
			[]Part{{P: 0}, {P: 1}}, map[string]error{"b": lost, "c": lost, "d": nil},
			map[string]int{"b": 1, "c": 2, "d": 1}, true, []bool{true, false}, []int{0, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "a", tc.acks, 0, newFakeClock(), tc.sets...)
			carried := 0
			for k := range tc.parts {
				tc.parts[k].Ops = ops(1)
				if tc.parts[k].Carrier == "b" {
					carried++
				}
			}
			f := r.Start(r.view, tc.parts)
			calls := r.sender.take()
			if len(calls) != len(tc.copies) {
				t.Fatalf("%d copies sent, want %d", len(calls), len(tc.copies))
			}
			sent, failed := 0, 0
			for _, c := range calls {
				name := c.addr[len("addr-"):]
				n := len(c.req.(*wire.OpsMsg).Ops)
				if c.m != 3 || n != tc.copies[name] {
					t.Errorf("copy to %s: method %d, %d ops; want 3, %d", name, c.m, n, tc.copies[name])
				}
				if err, ok := tc.answers[name]; ok {
					c.done(err)
					sent += n
					if err != nil {
						failed += n
					}
				}
			}
			if got := f.settle(); got != tc.settled {
				t.Fatalf("settled %v, want %v", got, tc.settled)
			}
			for k, want := range tc.failed {
				if err := f.Err(k); (err != nil) != want || err != nil && !errors.Is(err, api.ErrTryAgain) {
					t.Errorf("part %d: %v, want failed %v", k, err, want)
				}
				if f.Carrier(k) != tc.parts[k].Carrier {
					t.Errorf("part %d: carrier %q", k, f.Carrier(k))
				}
			}
			if got := r.repl.Load(); got != uint64(sent+carried) {
				t.Errorf("%d ops counted replicated, want %d", got, sent+carried)
			}
			if got := r.failed.Load(); got != uint64(failed) {
				t.Errorf("%d op copies counted failed, want %d", got, failed)
			}
			if len(r.dirty) != len(tc.dirty) {
				t.Errorf("dirty partitions %v, want %v", r.dirty, tc.dirty)
			}
		})
	}
}

// Enough acknowledgements do not decide a partition while a backup that holds a read lease
// lacks the write: until the lease runs out by the clock, or the backup acknowledges.
func TestFlightWaitsOutALease(t *testing.T) {
	clock := newFakeClock()
	r := newRig(t, "a", quorum.AcksMajority, time.Second, clock, []string{"a", "b", "c"})
	r.grantee("b").until.Store(int64(3 * time.Second))
	for _, ackB := range []bool{false, true} {
		clock.set(2 * time.Second) // past the fence of a fresh start
		f := r.Start(r.view, []Part{{P: 0, Ops: ops(1)}})
		calls := r.sender.take()
		if f.targets[0].name != "b" || f.targets[0].lease != int64(3*time.Second) || f.targets[1].lease != 0 {
			t.Fatalf("leases noted: %+v %+v", *f.targets[0], *f.targets[1])
		}
		calls[1].done(nil) // c
		if f.Done() {
			t.Fatal("decided while b, holding a lease, has not answered")
		}
		if ackB {
			calls[0].done(nil)
			if !f.Done() {
				t.Fatal("undecided after b acknowledged")
			}
			continue
		}
		calls[0].done(errors.New("lost"))
		if f.Done() || f.firstLease() != int64(3*time.Second) {
			t.Fatalf("decided while b's lease runs, or the wrong wake-up: %d", f.firstLease())
		}
		clock.set(3*time.Second - 1)
		if f.expireLeases(); f.Done() {
			t.Fatal("decided a nanosecond before the lease ran out")
		}
		clock.set(3 * time.Second)
		if f.expireLeases(); !f.Done() || f.Err(0) != nil {
			t.Fatalf("once the lease ran out: done %v, %v", f.Done(), f.Err(0))
		}
		if got := r.grantee("b").failedAt.Load(); got != int64(3*time.Second) {
			t.Fatalf("b failed at %d: it may get a lease again before anti-entropy", got)
		}
	}
}

// After a view change no write is acknowledged for a lease length (a backup still on the old
// view may hold a lease), unless it has no backup at all. A restarted node starts fenced.
func TestFenceAfterAViewChange(t *testing.T) {
	clock := newFakeClock()
	r := newRig(t, "a", quorum.AcksOne, time.Second, clock, []string{"a", "b"}, []string{"a"})
	for _, tc := range []struct {
		at, change time.Duration // clock reading; when the view changed (-1: not now)
		fence      time.Duration // FenceWait
	}{
		{0, -1, time.Second}, // a fresh start
		{400 * time.Millisecond, -1, 600 * time.Millisecond},
		{time.Second, -1, 0},
		{2 * time.Second, -1, -time.Second},
		{5 * time.Second, 5 * time.Second, time.Second},
		{5500 * time.Millisecond, -1, 500 * time.Millisecond},
		{6 * time.Second, -1, 0},
	} {
		clock.set(tc.at)
		if tc.change >= 0 {
			r.ViewChanged()
		}
		if got := r.FenceWait(); got != tc.fence {
			t.Fatalf("at %v: fence %v, want %v", tc.at, got, tc.fence)
		}
		backed := r.Start(r.view, []Part{{P: 0, Ops: ops(1)}}) // acks=one: decided at once
		alone := r.Start(r.view, []Part{{P: 1, Ops: ops(1)}})
		if got, want := backed.Done(), tc.fence <= 0; got != want {
			t.Fatalf("at %v: a flight with a backup done %v, want %v", tc.at, got, want)
		}
		if !alone.Done() {
			t.Fatalf("at %v: a flight without backups waits for the fence", tc.at)
		}
	}
	// Fenced, a waiting flight fails at its deadline with the fence's reason.
	clock.set(10 * time.Second)
	r.ViewChanged()
	f := r.Start(r.view, []Part{{P: 0, Ops: ops(1)}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if f.Wait(ctx); !errors.Is(f.Err(0), api.ErrTryAgain) {
		t.Fatalf("fenced past the deadline: %v", f.Err(0))
	}

	// Leases off: nothing to fence.
	off := newRig(t, "a", quorum.AcksOne, 0, clock, []string{"a", "b"})
	off.ViewChanged()
	if w := off.FenceWait(); w > 0 {
		t.Fatalf("leases off, fenced for %v", w)
	}
}
