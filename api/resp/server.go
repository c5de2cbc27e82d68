// Package resp is the RESP front end: it frames requests with its own bounded reader, runs
// them through one flat command table, and writes replies with redcon's writer. Errors are
// values until one place (replies.go) turns them into protocol replies.
package resp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/ratelog"
	"github.com/sessiongate/sessiongate/sessions"
)

// Config configures a Server. Zero fields take the documented defaults.
type Config struct {
	// Addr is the listen address for ListenAndServe. Default "127.0.0.1:6380".
	Addr string
	// RequirePass, when set, must be given with AUTH or HELLO before other commands.
	RequirePass string
	// MaxConns caps client connections. Default 10000.
	MaxConns int
	// IdleTimeout closes a connection that sends no complete command for this long.
	// Default 5 minutes; negative means never.
	IdleTimeout time.Duration
	// MaxArgs bounds the arguments of one request. Default 1,048,576 (as Redis).
	MaxArgs int
	// MaxBulk bounds one argument. Default 16 MiB: above the 8,000,000-byte payload limit, so
	// an oversized payload gets the module's own error rather than a protocol error.
	MaxBulk int
	// MaxCommandBytes bounds one request in all. Default 64 MiB.
	MaxCommandBytes int
	// Sections adds INFO sections (sessions, cluster).
	Sections func() []api.Section
	// Cluster answers SESSIONGATE.CLUSTER; it returns nil when the node runs alone.
	Cluster func() *api.ClusterView
	// Locate answers SESSIONGATE.CLUSTER LOCATE: every member's own copy of a session.
	Locate func(ctx context.Context, id sessions.ID) []api.Copy
	// Version is reported by INFO and HELLO.
	Version string
	// Rand is the randomness for session ids. Default crypto/rand.
	Rand io.Reader
	// Logger receives connection errors. Default slog.Default().
	Logger *slog.Logger
	// HandshakeTimeout bounds a TLS handshake (on a listener whose connections are
	// *tls.Conn, such as tls.NewListener's), so that a peer that connects and says nothing
	// cannot hold a connection slot. Default 10s.
	HandshakeTimeout time.Duration
}

// Limits for a connection that has not authenticated yet.
var unauthLimits = limits{maxArgs: 16, maxBulk: 16 << 10, maxCommand: 64 << 10}

// Server serves RESP clients.
type Server struct {
	cfg     Config
	backend api.Backend
	table   map[string]handler
	started time.Time

	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	lns   []net.Listener // in the order Serve was called; Addr is the first's
	conns map[*client]struct{}
	wg    sync.WaitGroup

	down         atomic.Bool // set by Shutdown before the listener closes
	nextID       atomic.Int64
	stats        serverStats
	connCount    atomic.Int64
	acceptLog    ratelog.Limiter // accept errors: one line per acceptLogEvery
	handshakeLog ratelog.Limiter // failed TLS handshakes: one line per ratelog.DefaultEvery
}

type serverStats struct {
	connections atomic.Uint64
	commands    atomic.Uint64
	rejected    atomic.Uint64
	errors      atomic.Uint64
}

// NewServer returns a server for backend.
func NewServer(cfg Config, backend api.Backend) *Server {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:6380"
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 10000
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.MaxArgs <= 0 {
		cfg.MaxArgs = 1 << 20
	}
	if cfg.MaxBulk <= 0 {
		cfg.MaxBulk = 16 << 20
	}
	if cfg.MaxCommandBytes <= 0 {
		cfg.MaxCommandBytes = 64 << 20
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Version == "" {
		cfg.Version = "0.1.0"
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, backend: backend, table: commands(), started: time.Now(), ctx: ctx, cancel: cancel,
		conns: map[*client]struct{}{}, acceptLog: ratelog.Limiter{Every: acceptLogEvery}}
}

// ListenAndServe listens on cfg.Addr and serves.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Addr is the address of the first listener Serve was given, once serving.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lns) == 0 {
		return nil
	}
	return s.lns[0].Addr()
}

// After a failed accept the loop waits acceptBackoffMin, doubling to acceptBackoffMax and
// reset by the next success (net/http's schedule): the poller reports a listener with a
// pending connection as readable, so retrying at once after EMFILE would spin a core. The
// failures are logged at most once per acceptLogEvery.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	acceptLogEvery   = 5 * time.Second
)

// Serve accepts clients on ln until Shutdown, and may be called for several listeners at
// once (plain and TLS): they share the connection cap. A listener whose connections are
// *tls.Conn is served over TLS, each handshake bounded by HandshakeTimeout. An accept
// error (EMFILE, ENFILE, ECONNABORTED, ...) is logged and retried with backoff, never
// returned: a node out of file descriptors keeps serving the clients it has. Serve returns
// nil after Shutdown, and net.ErrClosed if ln is closed by someone else.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.down.Load() {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.down.Load() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			s.acceptLog.Warn(s.cfg.Logger, "accept failed; retrying", "addr", ln.Addr().String(), "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		s.stats.connections.Add(1)
		if s.connCount.Add(1) > int64(s.cfg.MaxConns) {
			s.connCount.Add(-1)
			s.stats.rejected.Add(1)
			// A TLS connection would need a handshake (the peer's bytes, on this goroutine)
			// before the error could be sent: it is closed without one.
			if _, isTLS := nc.(*tls.Conn); !isTLS {
				nc.SetWriteDeadline(time.Now().Add(time.Second))
				nc.Write([]byte("-ERR max number of clients reached\r\n"))
			}
			nc.Close()
			continue
		}
		c := newClient(s, nc)
		s.mu.Lock()
		if s.down.Load() {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			if s.handshake(nc) {
				c.serve()
			} else {
				nc.Close()
			}
			s.connCount.Add(-1)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting, lets commands in flight finish until ctx ends, then closes every
// connection.
func (s *Server) Shutdown(ctx context.Context) error {
	s.down.Store(true)
	s.mu.Lock()
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.closing.Store(true)
		c.nc.SetReadDeadline(time.Now()) // wake readers; a command in flight still completes
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	<-done
	return err
}

func (s *Server) pid() int { return os.Getpid() }

// handshake completes a TLS connection's handshake within HandshakeTimeout (true for a
// connection that is not TLS). A failed one (no or a foreign client certificate, plain text,
// a timeout) is a warning, rate-limited since anyone who reaches the port can cause it; a
// connection closed before its hello (a load balancer's TCP probe) is only a debug line.
func (s *Server) handshake(nc net.Conn) bool {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	err := tc.HandshakeContext(ctx)
	switch {
	case err == nil:
		return true
	case errors.Is(err, io.EOF) || s.down.Load():
		s.cfg.Logger.Debug("tls handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
	default:
		s.handshakeLog.Warn(s.cfg.Logger, "tls handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
	}
	return false
}
