package replication

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// inlineEcho answers method 1 on the reader goroutine and leaves the others to workers.
type inlineEcho struct {
	echoHandler
	inline, worker atomic.Int32
}

func (h *inlineEcho) ServeCall(ctx context.Context, m Method, dec *msgpack.Decoder) (any, error) {
	h.worker.Add(1)
	return h.echoHandler.ServeCall(ctx, m, dec)
}

func (h *inlineEcho) ServeInline(ctx context.Context, m Method, dec *msgpack.Decoder) (any, bool, error) {
	if m != 1 {
		return nil, false, nil
	}
	h.inline.Add(1)
	resp, err := h.echoHandler.ServeCall(ctx, m, dec)
	return resp, true, err
}

// startInline serves an inlineEcho on a loopback port until the test ends.
func startInline(t *testing.T) (*inlineEcho, *Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &inlineEcho{}
	s := NewServer(ServerConfig{}, h)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return h, s, ln.Addr().String()
}

// requestFrame encodes the echo request N=id as a whole request frame for method m.
func requestFrame(t testing.TB, id uint64, m Method) []byte {
	t.Helper()
	b := getBuf()
	if err := encodeInto(b, echoReq{N: int(id)}); err != nil {
		t.Fatal(err)
	}
	return finishFrame(*b, id, kindRequest, m)
}

// Calls an InlineHandler takes are answered without a worker; the rest still reach ServeCall
// with their payload intact.
func TestInlineHandler(t *testing.T) {
	h, _, addr := startInline(t)
	c := NewClient(ClientConfig{})
	defer c.Close()
	ctx := context.Background()
	for i := 1; i <= 10; i++ {
		for _, m := range []Method{1, 2} {
			var resp echoResp
			if err := c.Call(ctx, addr, m, echoReq{N: i}, &resp); err != nil || resp.N != i*int(m) {
				t.Fatalf("method %d, %d: %+v %v", m, i, resp, err)
			}
		}
	}
	var resp echoResp
	if err := c.Call(ctx, addr, 1, echoReq{Fail: "no"}, &resp); err == nil || err.Error() != "remote: no" {
		t.Fatalf("inline error: %v", err)
	}
	if h.inline.Load() != 11 || h.worker.Load() != 10 {
		t.Fatalf("%d inline, %d on workers; want 11 and 10", h.inline.Load(), h.worker.Load())
	}
}

// A burst of requests that arrives in one read is answered in a few writes rather than one
// write per answer, and no answer is left queued: the last of the burst goes to a worker
// here, so the queued inline answers must leave before the reader waits again.
func TestInlineAnswersOfABurstLeaveTogether(t *testing.T) {
	_, s, addr := startInline(t)
	nc, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	const n = 50
	var burst []byte
	for i := 1; i <= n; i++ {
		m := Method(1) // inline
		if i == n {
			m = 2 // a worker's
		}
		burst = append(burst, requestFrame(t, uint64(i), m)...)
	}
	if _, err := nc.Write(burst); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(nc)
	seen := map[uint64]bool{}
	for len(seen) < n {
		f, err := readFrame(r, DefaultMaxFrame)
		if err != nil {
			t.Fatalf("after %d answers: %v", len(seen), err)
		}
		var resp echoResp
		if f.kind != kindOK || decodeFrom(f.payload, &resp) != nil || resp.N != int(f.id)*int(f.method) {
			t.Fatalf("answer %d: kind %d, %+v", f.id, f.kind, resp)
		}
		seen[f.id] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.conns {
		k.wmu.Lock()
		writes := k.writes
		k.wmu.Unlock()
		if writes >= n/2 {
			t.Fatalf("%d answers took %d writes; a burst's inline answers should share them", n, writes)
		}
		t.Logf("%d answers in %d writes", n, writes)
	}
}

// Part of a frame behind a burst must not hold the burst's answers: its rest may be slow to
// come (here it never comes until the answers are in).
func TestInlineAnswersDoNotWaitForAPartialFrame(t *testing.T) {
	_, _, addr := startInline(t)
	nc, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var burst []byte
	for id := uint64(1); id <= 5; id++ {
		burst = append(burst, requestFrame(t, id, 1)...)
	}
	last := requestFrame(t, 6, 1)
	burst = append(burst, last[:len(last)/2]...)
	if _, err := nc.Write(burst); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(nc)
	for want := uint64(1); want <= 5; want++ {
		f, err := readFrame(r, DefaultMaxFrame)
		if err != nil {
			t.Fatalf("answer %d of the burst never came while a frame was half sent: %v", want, err)
		}
		if f.id != want {
			t.Fatalf("answer %d, want %d", f.id, want)
		}
	}
	if _, err := nc.Write(last[len(last)/2:]); err != nil {
		t.Fatal(err)
	}
	if f, err := readFrame(r, DefaultMaxFrame); err != nil || f.id != 6 {
		t.Fatalf("the completed frame: %+v, %v", f, err)
	}
}

func TestWholeFrame(t *testing.T) {
	fr := requestFrame(t, 1, 1)
	for cut, want := range map[int]bool{0: false, 3: false, 4: false, len(fr) - 1: false, len(fr): true} {
		r := bufio.NewReader(bytes.NewReader(fr[:cut]))
		r.Peek(cut) // fill the buffer with what there is
		if got := wholeFrame(r); got != want {
			t.Errorf("%d of %d bytes buffered: wholeFrame = %v, want %v", cut, len(fr), got, want)
		}
	}
}

// deferEcho starts method 3 inline, notes the order calls started in, and hands each call's
// answer function to the test, which answers when it likes, from its own goroutine.
type deferEcho struct {
	echoHandler
	started chan int
	answers chan func(any, error)
}

func (h *deferEcho) ServeInline(ctx context.Context, m Method, dec *msgpack.Decoder) (any, bool, error) {
	if m != 3 {
		return nil, false, nil
	}
	var req echoReq
	if err := dec.Decode(&req); err != nil {
		return nil, true, err
	}
	h.started <- req.N
	return Deferred(func(answer func(any, error)) {
		if req.Fail != "" {
			answer(nil, errors.New(req.Fail)) // at once, inside the call
			return
		}
		h.answers <- func(resp any, err error) { answer(echoResp{N: req.N * 3}, err) }
	}), true, nil
}

// A call started inline whose answer is deferred is answered when the handler gives it, from
// any goroutine, without holding up the calls behind it on its connection; meanwhile it
// counts as in flight, and no worker runs for it.
func TestInlineCallAnsweredLater(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &deferEcho{started: make(chan int, 16), answers: make(chan func(any, error), 16)}
	s := NewServer(ServerConfig{MaxInFlightPerConn: 8}, h)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	c := NewClient(ClientConfig{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	got := make(chan echoResp, 4)
	for i := 1; i <= 4; i++ {
		go func() {
			var resp echoResp
			if err := c.Call(ctx, ln.Addr().String(), 3, echoReq{N: i}, &resp); err != nil {
				t.Error(err)
			}
			got <- resp
		}()
		if n := <-h.started; n != i {
			t.Fatalf("call %d started in place of %d", n, i)
		}
	}
	// The four are deferred; a call on the same connection still gets through.
	var resp echoResp
	if err := c.Call(ctx, ln.Addr().String(), 1, echoReq{N: 7}, &resp); err != nil || resp.N != 7 {
		t.Fatalf("call behind the deferred ones: %+v %v", resp, err)
	}
	select {
	case a := <-got:
		t.Fatalf("answered %+v before the handler gave the answer", a)
	default:
	}
	sum := 0
	for range 4 {
		(<-h.answers)(nil, nil)
		sum += (<-got).N
	}
	if sum != 3*(1+2+3+4) {
		t.Fatalf("answers sum to %d, want %d", sum, 3*(1+2+3+4))
	}
	if err := c.Call(ctx, ln.Addr().String(), 3, echoReq{N: 9, Fail: "deferred failure"}, nil); err == nil || err.Error() != "remote: deferred failure" {
		t.Fatalf("a deferred error: %v", err)
	}
	<-h.started
	// Deferred calls hold their in-flight slots: eight unanswered ones stop the reader.
	for i := 1; i <= 8; i++ {
		go c.Call(ctx, ln.Addr().String(), 3, echoReq{N: i}, nil)
		<-h.started
	}
	behind := make(chan error, 1)
	go func() { behind <- c.Call(ctx, ln.Addr().String(), 1, echoReq{N: 1}, nil) }()
	select {
	case err := <-behind:
		t.Fatalf("a call got past eight deferred ones with eight slots: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	(<-h.answers)(nil, nil)
	if err := <-behind; err != nil {
		t.Fatalf("the call behind, once a slot freed: %v", err)
	}
	for range 7 {
		(<-h.answers)(nil, nil)
	}
}
