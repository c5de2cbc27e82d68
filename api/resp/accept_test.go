package resp

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/node"
)

// failingListener fails its first fails accepts with err, then accepts from the real one.
type failingListener struct {
	net.Listener
	mu    sync.Mutex
	fails int
	err   error
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.fails > 0 {
		l.fails--
		l.mu.Unlock()
		return nil, l.err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Accept errors of every kind a loaded node meets are retried, and logged once rather than
// once per failure.
func TestAcceptErrorsAreRetried(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ENOBUFS} {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var logs syncBuffer
		ln := &failingListener{Listener: inner, fails: 6, err: &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}}
		s := NewServer(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, newNodeBackend(t))
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		r := dialRaw(t, inner.Addr().String())
		if got := r.do("PING"); got != "+PONG" {
			t.Fatalf("%v: PING after accept errors: %q", errno, got)
		}
		select {
		case err := <-served:
			t.Fatalf("%v: Serve returned %v", errno, err)
		default:
		}
		if n := strings.Count(logs.String(), "accept failed"); n != 1 {
			t.Errorf("%v: %d log lines for 6 failures in a row, want 1:\n%s", errno, n, logs.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.Shutdown(ctx)
		cancel()
		if err := <-served; err != nil {
			t.Fatalf("Serve after Shutdown: %v", err)
		}
	}
}

// Two listeners (plain and TLS, say) share one server; Shutdown closes both.
func TestServeTwoListeners(t *testing.T) {
	s := NewServer(Config{}, newNodeBackend(t))
	var addrs []string
	done := make(chan error, 2)
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		go func() { done <- s.Serve(ln) }()
	}
	for _, a := range addrs {
		if got := dialRaw(t, a).do("PING"); got != "+PONG" {
			t.Fatalf("%s: %q", a, got)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Shutdown(ctx)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("Serve: %v", err)
		}
	}
	for _, a := range addrs {
		if nc, err := net.Dial("tcp", a); err == nil {
			nc.Close()
			t.Fatalf("%s still accepts after Shutdown", a)
		}
	}
}

// newNodeBackend is a lone node, shut down when the test ends.
func newNodeBackend(t *testing.T) api.Backend {
	t.Helper()
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	return n
}
