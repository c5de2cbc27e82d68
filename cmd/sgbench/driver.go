package main

import (
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// clock is time as the drivers see it; tests replace it to check the open-loop accounting.
type clock interface {
	Now() time.Time
	// SleepUntil returns once t has come, or early with ctx's error when ctx ends.
	SleepUntil(ctx context.Context, t time.Time) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) SleepUntil(ctx context.Context, t time.Time) error {
	for {
		d := time.Until(t)
		if d <= 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// Short naps rather than a timer per request: most gaps are far below this, and
		// a long gap still notices the end of the run.
		time.Sleep(min(d, 20*time.Millisecond))
	}
}

// budget shares --ops among workers; a zero-value budget is unlimited.
type budget struct {
	limited bool
	left    atomic.Int64
}

func newBudget(ops int64) *budget {
	b := &budget{limited: ops > 0}
	b.left.Store(ops)
	return b
}

// take claims up to n operations and returns how many it got.
func (b *budget) take(n int) int {
	if !b.limited {
		return n
	}
	after := b.left.Add(int64(-n))
	if after >= 0 {
		return n
	}
	return max(0, n+int(after))
}

// worker drives one connection.
type worker struct {
	conn    *Conn
	wl      workload
	d       dialect
	slots   []slot // one per request the connection may have in flight
	ops     []op   // closed loop: the current batch, by slot
	st      *stats
	prog    *progress
	budget  *budget
	clk     clock
	timeout time.Duration
	keep    []byte // the first reply's bytes while later replies of the same op are read
}

func newWorker(c *Conn, wl workload, d dialect, depth int, prog *progress, b *budget, clk clock, timeout time.Duration) *worker {
	return &worker{
		conn: c, wl: wl, d: d, slots: make([]slot, depth), ops: make([]op, depth),
		st: newStats(), prog: prog, budget: b, clk: clk, timeout: timeout,
	}
}

// finish reads o's replies, records the outcome with the latency since since, and tells
// the workload. It fails only when the connection does.
func (w *worker) finish(s *slot, o op, since time.Time) (ok bool, err error) {
	first, kind, err := readOp(w.conn, w.d, o, &w.keep)
	if err != nil {
		return false, err
	}
	if kind == "" {
		w.st.record(o.cmd, w.clk.Now().Sub(since))
	} else {
		w.st.fail(o.cmd, kind)
	}
	w.wl.done(s, o, first, kind != "")
	return kind == "", nil
}

// readOp reads the o.n replies of one op and says what was wrong with them ("" if
// nothing). The first reply's bytes are kept in *keep while later replies are read.
func readOp(c *Conn, d dialect, o op, keep *[]byte) (first Reply, kind string, err error) {
	first, err = c.read()
	if err != nil {
		return first, "", err
	}
	kind = d.check(o.cmd, first)
	if o.n > 1 {
		*keep = append((*keep)[:0], first.Bytes...)
		first.Bytes = *keep
		for range o.n - 1 {
			rep, err := c.read()
			if err != nil {
				return first, "", err
			}
			if kind == "" && rep.Type == '-' {
				kind = errorKind(rep.Bytes)
			}
		}
	}
	return first, kind, nil
}

// lost counts requests whose replies will never come because the connection failed, and
// returns the failure. When the run is over it is no failure at all.
func (w *worker) lost(run context.Context, ops []op, err error) error {
	if run.Err() != nil {
		return nil
	}
	kind := connErrorKind(err)
	for _, o := range ops {
		w.st.fail(o.cmd, kind)
	}
	w.prog.failed.Add(int64(len(ops)))
	return err
}

func connErrorKind(err error) string {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout: no reply within --timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection closed by the server"
	case errors.Is(err, errProtocol):
		return "protocol error in reply"
	}
	return "connection error"
}

// closedLoop sends a batch of one request per slot, waits for all their replies, and
// repeats: the redis-benchmark -P model. Latency runs from the batch's send.
func (w *worker) closedLoop(ctx context.Context) error {
	for ctx.Err() == nil {
		n := w.budget.take(len(w.slots))
		if n == 0 {
			return nil
		}
		for i := range n {
			w.ops[i] = w.wl.next(&w.slots[i], w.conn.w)
		}
		sent := w.clk.Now()
		if err := w.conn.flush(w.timeout); err != nil {
			return w.lost(ctx, w.ops[:n], err)
		}
		var ok, failed int64
		for i := range n {
			good, err := w.finish(&w.slots[i], w.ops[i], sent)
			if err != nil {
				w.prog.ok.Add(ok)
				w.prog.failed.Add(failed)
				return w.lost(ctx, w.ops[i:n], err)
			}
			if good {
				ok++
			} else {
				failed++
			}
		}
		w.prog.ok.Add(ok)
		w.prog.failed.Add(failed)
	}
	return nil
}

// sent is one open-loop request in flight.
type sent struct {
	slot int
	o    op
	at   time.Time // when it was meant to go out
}

// openLoop sends requests on a fixed schedule, one every interval starting phase from
// now, whether or not earlier replies have come, and times each from its scheduled moment.
// A server that falls behind therefore shows as latency, not as fewer requests (no
// coordinated omission). At most len(w.slots) requests are in flight; when all are, the
// next waits, and its latency still counts from when it should have gone.
func (w *worker) openLoop(run context.Context, interval, phase time.Duration) error {
	ctx, cancel := context.WithCancel(run)
	defer cancel()
	ready := make(chan int, len(w.slots))
	for i := range w.slots {
		ready <- i
	}
	inflight := make(chan sent, len(w.slots))
	readErr := make(chan error, 1)
	go func() { readErr <- w.readLoop(run, cancel, inflight, ready) }()

	start := w.clk.Now().Add(phase)
	var i int64
	var sendErr error
	exhausted := false
	for !exhausted {
		// A free slot first, then the scheduled moment: in real time the order makes no
		// difference, and a sender that slept first would, under a fake clock, move time
		// forward while replies are still on their way.
		var s int
		select {
		case s = <-ready:
		case <-ctx.Done():
		}
		at := start.Add(time.Duration(i) * interval)
		if ctx.Err() != nil || w.clk.SleepUntil(ctx, at) != nil {
			break
		}
		if w.budget.take(1) == 0 {
			break
		}
		inflight <- sent{s, w.wl.next(&w.slots[s], w.conn.w), at}
		i++
		// Requests already due go out in the same write, as far as free slots allow.
		for {
			at = start.Add(time.Duration(i) * interval)
			if at.After(w.clk.Now()) {
				break
			}
			select {
			case s = <-ready:
			default:
				s = -1
			}
			if s < 0 {
				break
			}
			if w.budget.take(1) == 0 {
				exhausted = true
				break
			}
			inflight <- sent{s, w.wl.next(&w.slots[s], w.conn.w), at}
			i++
		}
		if err := w.conn.flush(w.timeout); err != nil {
			sendErr = err
			w.conn.Close() // the reader stops at once and counts what was in flight
			break
		}
	}
	close(inflight)
	if run.Err() != nil && sendErr == nil {
		// The run ended: requests whose time had come but that never went out are reported,
		// since their latency can no longer be measured.
		if next := start.Add(time.Duration(i) * interval); !next.After(w.clk.Now()) {
			w.st.unsent += int64(w.clk.Now().Sub(next)/interval) + 1
		}
	}
	err := <-readErr
	if err == nil && sendErr != nil && run.Err() == nil {
		err = sendErr
	}
	return err
}

// readLoop reads the replies of the requests in inflight, in order, and frees their
// slots. If the connection fails it stops the sender and counts the rest as lost.
func (w *worker) readLoop(run context.Context, stop func(), inflight <-chan sent, ready chan<- int) error {
	var failure error
	for e := range inflight {
		if failure != nil {
			w.lost(run, []op{e.o}, failure)
			continue
		}
		ok, err := w.finish(&w.slots[e.slot], e.o, e.at)
		if err != nil {
			failure = err
			stop()
			w.lost(run, []op{e.o}, err)
			continue
		}
		if ok {
			w.prog.ok.Add(1)
		} else {
			w.prog.failed.Add(1)
		}
		ready <- e.slot
	}
	if run.Err() != nil {
		return nil
	}
	return failure
}
