package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

type echoReq struct {
	N     int
	Sleep time.Duration
	Fail  string
}

type echoResp struct{ N int }

type echoHandler struct{}

func (echoHandler) ServeCall(ctx context.Context, m Method, dec *msgpack.Decoder) (any, error) {
	var req echoReq
	if err := dec.Decode(&req); err != nil {
		return nil, err
	}
	if req.Sleep > 0 {
		select {
		case <-time.After(req.Sleep):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if req.Fail != "" {
		return nil, errors.New(req.Fail)
	}
	return echoResp{N: req.N * int(m)}, nil
}

func serve(t *testing.T, addr string) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ServerConfig{MaxFrame: 1 << 20}, echoHandler{})
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String()
}

func TestRoundTripAndConcurrency(t *testing.T) {
	_, addr := serve(t, "127.0.0.1:0")
	c := NewClient(ClientConfig{})
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp echoResp
			// Varying delays make answers come back out of order.
			req := echoReq{N: i, Sleep: time.Duration(i%7) * time.Millisecond}
			if err := c.Call(context.Background(), addr, 3, req, &resp); err != nil {
				errs <- err
				return
			}
			if resp.N != 3*i {
				errs <- fmt.Errorf("call %d got %d", i, resp.N)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestRemoteError(t *testing.T) {
	_, addr := serve(t, "127.0.0.1:0")
	c := NewClient(ClientConfig{})
	defer c.Close()
	err := c.Call(context.Background(), addr, 1, echoReq{Fail: "boom"}, nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "boom" || errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v", err)
	}
}

func TestServerDeathThenRestart(t *testing.T) {
	s, addr := serve(t, "127.0.0.1:0")
	c := NewClient(ClientConfig{RetryBackoff: 10 * time.Millisecond})
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), addr, 1, echoReq{Sleep: 5 * time.Second}, nil) }()
	time.Sleep(100 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("mid-call death: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call hung after the server died")
	}
	if err := c.Call(context.Background(), addr, 1, echoReq{}, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("call to a dead server: %v", err)
	}
	serve(t, addr)
	var resp echoResp
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := c.Call(context.Background(), addr, 2, echoReq{N: 4}, &resp)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp.N != 8 {
		t.Fatalf("after restart got %d", resp.N)
	}
}

func TestContextCancelReturnsPromptly(t *testing.T) {
	_, addr := serve(t, "127.0.0.1:0")
	c := NewClient(ClientConfig{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Call(ctx, addr, 1, echoReq{Sleep: 10 * time.Second}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	// The connection is still usable.
	if err := c.Call(context.Background(), addr, 1, echoReq{}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestOversizeFrameRejected(t *testing.T) {
	_, addr := serve(t, "127.0.0.1:0")
	nc, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var h [headerLen]byte
	binary.BigEndian.PutUint32(h[:4], 1<<30) // 1 GiB, over the 1 MiB limit
	h[12] = kindRequest
	nc.Write(h[:])
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("server kept a connection that announced an oversize frame")
	}
	// And keeps serving others.
	c := NewClient(ClientConfig{})
	defer c.Close()
	if err := c.Call(context.Background(), addr, 1, echoReq{}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	s := NewServer(ServerConfig{}, echoHandler{})
	go s.Serve(ln)
	c := NewClient(ClientConfig{})
	for i := 0; i < 10; i++ {
		if err := c.Call(context.Background(), ln.Addr().String(), 1, echoReq{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+1 {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchSecurity runs a benchmark over a plain link and over one sealed with a cluster secret,
// so that the cost of encryption reads as a ratio within one run.
func benchSecurity(b *testing.B, run func(b *testing.B, c *Client, addr string)) {
	keys := mustKeys(b, secretA)
	for _, tc := range []struct {
		name string
		sec  *Security
	}{{"plain", nil}, {"sealed", &Security{Name: "n", Keys: keys}}} {
		b.Run(tc.name, func(b *testing.B) {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			s := NewServer(ServerConfig{Security: tc.sec}, echoHandler{})
			go s.Serve(ln)
			defer s.Close()
			c := NewClient(ClientConfig{Security: tc.sec})
			defer c.Close()
			b.ReportAllocs()
			run(b, c, ln.Addr().String())
		})
	}
}

func BenchmarkCallSerial(b *testing.B) {
	benchSecurity(b, func(b *testing.B, c *Client, addr string) {
		var resp echoResp
		for i := 0; i < b.N; i++ {
			if err := c.Call(context.Background(), addr, 1, echoReq{N: i}, &resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCallParallel(b *testing.B) {
	benchSecurity(b, func(b *testing.B, c *Client, addr string) {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			var resp echoResp
			for pb.Next() {
				if err := c.Call(context.Background(), addr, 1, echoReq{N: 1}, &resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// ctxHandler reports when a call's context ends.
type ctxHandler struct {
	started chan struct{}
	ended   chan error
}

func (h ctxHandler) ServeCall(ctx context.Context, m Method, dec *msgpack.Decoder) (any, error) {
	close(h.started)
	select {
	case <-ctx.Done():
		h.ended <- ctx.Err()
	case <-time.After(10 * time.Second):
		h.ended <- errors.New("still running 10 s after its connection closed")
	}
	return nil, nil
}

// A call whose connection is gone has its context cancelled: its answer cannot arrive, and
// its caller, told the connection was lost, may already have sent it again another way.
func TestCallContextEndsWithItsConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := ctxHandler{started: make(chan struct{}), ended: make(chan error, 1)}
	s := NewServer(ServerConfig{}, h)
	go s.Serve(ln)
	defer s.Close()
	c := NewClient(ClientConfig{})
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), ln.Addr().String(), 1, echoReq{N: 1}, nil) }()
	<-h.started
	c.Close()
	if err := <-done; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("call on a closed client: %v, want ErrUnavailable", err)
	}
	if err := <-h.ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler: %v", err)
	}
}

// Drain waits for the calls taken to be answered.
func TestDrainWaitsForCallsInFlight(t *testing.T) {
	s, addr := serve(t, "127.0.0.1:0")
	c := NewClient(ClientConfig{})
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		done <- c.Call(context.Background(), addr, 1, echoReq{N: 1, Sleep: 300 * time.Millisecond}, nil)
	}()
	for s.inflight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if s.Drain(short) {
		t.Fatal("Drain reported nothing in flight while a call slept")
	}
	if !s.Drain(context.Background()) {
		t.Fatal("Drain gave up without a deadline")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the drained call: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Drain returned before the call was answered")
	}
}

// dialRaw opens an insecure link as a member would, handshake done, for tests that write
// frames by hand.
func dialRaw(addr string) (net.Conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := (*Security)(nil).dial(ctx, nc, addr)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return l.c, nil
}
