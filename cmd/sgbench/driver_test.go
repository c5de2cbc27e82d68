package main

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// stallOnce is a fake sessiongate whose first reply comes only once the clock reads t0+1s:
// a one-second stall of the server, in fake time.
func stallOnce(clk *fakeClock, t0 time.Time) fakeHandler {
	return func(c *fakeConn, args []string) string {
		if args[0] == "PING" {
			return "+PONG\r\n"
		}
		if c.n == 1 {
			clk.AtLeast(t0.Add(time.Second))
		}
		return bulk("v1.tok")
	}
}

func newTestWorker(t *testing.T, addr string, depth int, ops int64, clk clock) *worker {
	t.Helper()
	c, err := dialConn(context.Background(), addr, 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	d := newSessiongateDialect(testConfig(), []byte("data"))
	wl, _ := newWorkload(workloadStart, d, nil, nil, 0, nil, 0)
	return newWorker(c, wl, d, depth, &progress{}, newBudget(ops), clk, 30*time.Second)
}

// countAtLeast counts recorded values of at least v.
func countAtLeast(h *hdrhistogram.Histogram, v int64) int64 {
	var n int64
	for _, bar := range h.Distribution() {
		if bar.From >= v {
			n += bar.Count
		}
	}
	return n
}

func TestOpenLoopTimesFromTheScheduledSend(t *testing.T) {
	t0 := time.Unix(1000, 0)
	clk := &fakeClock{now: t0}
	w := newTestWorker(t, startFake(t, stallOnce(clk, t0)), 1, 20, clk)
	if err := w.openLoop(context.Background(), 100*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	h := w.st.cmds[cmdStart].hist
	// Request i was due at i*100ms. The first took the whole stall (1s); the nine due
	// during it went out only when it ended, so they count 900ms, 800ms ... 100ms; the
	// rest were on time.
	if h.TotalCount() != 20 || w.st.cmds[cmdStart].ok != 20 {
		t.Fatalf("%d recorded, %d ok", h.TotalCount(), w.st.cmds[cmdStart].ok)
	}
	if got := countAtLeast(h, int64(50*time.Millisecond)); got != 10 {
		t.Errorf("%d requests saw the stall, want 10", got)
	}
	if !h.ValuesAreEquivalent(h.Max(), int64(time.Second)) {
		t.Errorf("max %v, want 1s", time.Duration(h.Max()))
	}
	wantMean := float64(5500*time.Millisecond) / 20
	if m := h.Mean(); m < wantMean*0.99 || m > wantMean*1.01 {
		t.Errorf("mean %v, want %v", time.Duration(m), time.Duration(wantMean))
	}
}

func TestClosedLoopHidesTheStall(t *testing.T) {
	// The same stall measured closed-loop: only the one request in flight sees it. This is
	// why --rate exists.
	t0 := time.Unix(1000, 0)
	clk := &fakeClock{now: t0}
	w := newTestWorker(t, startFake(t, stallOnce(clk, t0)), 1, 20, clk)
	if err := w.closedLoop(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := w.st.cmds[cmdStart].hist
	if h.TotalCount() != 20 || countAtLeast(h, int64(50*time.Millisecond)) != 1 {
		t.Fatalf("%d recorded, %d slow", h.TotalCount(), countAtLeast(h, int64(50*time.Millisecond)))
	}
}

func TestOpenLoopCountsRequestsNeverSent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	clk := &fakeClock{now: t0}
	got := make(chan struct{}, 1)
	release := make(chan struct{})
	addr := startFake(t, func(c *fakeConn, args []string) string {
		got <- struct{}{}
		<-release
		return bulk("v1.tok")
	})
	w := newTestWorker(t, addr, 1, 0, clk)
	run, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.openLoop(run, 100*time.Millisecond, 0) }()
	<-got // the first request is at the server, which does not answer
	clk.AtLeast(t0.Add(1050 * time.Millisecond))
	cancel() // the run ends with requests due at 100ms, 200ms ... 1000ms never sent
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.st.unsent != 10 {
		t.Fatalf("unsent %d, want 10", w.st.unsent)
	}
	if w.st.cmds[cmdStart].ok != 1 {
		t.Fatalf("the request in flight must still be counted: %d", w.st.cmds[cmdStart].ok)
	}
}

func TestOpenLoopKeepsDepthInFlight(t *testing.T) {
	// A server that answers nothing until four requests have arrived: with pipeline 4 the
	// sender must not wait for replies before sending more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	arrived := make(chan int, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		r := newReader(nc)
		n := 0
		for ; n < 4; n++ {
			if _, err := r.read(); err != nil {
				break
			}
		}
		arrived <- n
		for range n {
			nc.Write([]byte(bulk("v1.tok")))
		}
		io.Copy(io.Discard, nc)
	}()
	clk := &fakeClock{now: time.Unix(0, 0)}
	w := newTestWorker(t, ln.Addr().String(), 4, 4, clk)
	if err := w.openLoop(context.Background(), time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	if n := <-arrived; n != 4 {
		t.Fatalf("only %d requests arrived before the first reply", n)
	}
	if w.st.cmds[cmdStart].ok != 4 {
		t.Fatalf("ok %d", w.st.cmds[cmdStart].ok)
	}
}

func TestBudgetSharesOps(t *testing.T) {
	b := newBudget(10)
	if got := b.take(4); got != 4 {
		t.Fatal(got)
	}
	if got := b.take(4); got != 4 {
		t.Fatal(got)
	}
	if got := b.take(4); got != 2 {
		t.Fatalf("the last 2 of 10: got %d", got)
	}
	if got := b.take(4); got != 0 {
		t.Fatal(got)
	}
	var total atomic.Int64
	b = newBudget(1000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := b.take(3)
				if n == 0 {
					return
				}
				total.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	if total.Load() != 1000 {
		t.Fatalf("took %d of 1000", total.Load())
	}
	if got := newBudget(0).take(7); got != 7 {
		t.Fatalf("unlimited: %d", got)
	}
}
