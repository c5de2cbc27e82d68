package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/ratelog"
	"github.com/sessiongate/sessiongate/workpool"
)

// Handler serves calls. It runs on its own goroutine per call.
type Handler interface {
	// ServeCall answers one call; dec reads the request payload and is valid only until
	// ServeCall returns. A nil response sends no payload.
	ServeCall(ctx context.Context, m Method, dec *msgpack.Decoder) (any, error)
}

// InlineHandler is a Handler that answers some calls on the connection's reader goroutine,
// saving the hand-off to a worker. It must only do so for calls that wait on nothing: a
// call answered inline holds up every later frame of its connection. A call that has to
// wait after it started may defer its answer (Deferred) instead of waiting.
type InlineHandler interface {
	Handler
	// ServeInline answers the call and reports ok, or reports !ok to have ServeCall answer
	// it on a worker instead. dec is valid only until ServeInline returns. A Deferred
	// response is not the answer but the promise of one.
	ServeInline(ctx context.Context, m Method, dec *msgpack.Decoder) (resp any, ok bool, err error)
}

// Deferred is a call that ServeInline started and that finishes by itself, later, on
// whatever goroutine learns its outcome (a write whose acknowledgements are not all in yet):
// the server calls it once with the function to hand the answer to, which it must call
// exactly once. No goroutine waits meanwhile; the call counts as in flight until answered.
type Deferred func(answer func(resp any, err error))

// ServerConfig tunes a Server.
type ServerConfig struct {
	// MaxFrame bounds a request. Default 64 MiB.
	MaxFrame int
	// MaxInFlightPerConn bounds concurrent calls per connection; further frames wait. Default 1024.
	MaxInFlightPerConn int
	// MaxConns bounds authenticated connections; more are closed at once. Default 1024
	// (a member keeps one to each peer).
	MaxConns int
	// MaxHandshakes bounds connections still in their handshake, so that strangers cannot
	// hold every slot. Default 64.
	MaxHandshakes int
	// Security is how peers authenticate. Default nil: insecure.
	Security *Security
	// HandshakeTimeout bounds a connection's handshake. Default 5s.
	HandshakeTimeout time.Duration
	// Logger receives connection errors. Default slog.Default().
	Logger *slog.Logger
}

// Server answers calls on accepted connections.
type Server struct {
	cfg    ServerConfig
	h      Handler
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	ln    net.Listener
	conns map[*conn]struct{}
	wg    sync.WaitGroup
	pool  workpool.Pool // runs calls

	inflight   atomic.Int64    // calls taken and not yet answered (Drain)
	handshakes atomic.Int64    // connections in their handshake
	refusals   ratelog.Limiter // strangers and connections over the caps
	acceptErrs ratelog.Limiter
}

// NewServer returns a server for h.
func NewServer(cfg ServerConfig, h Handler) *Server {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.MaxInFlightPerConn <= 0 {
		cfg.MaxInFlightPerConn = 1024
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1024
	}
	if cfg.MaxHandshakes <= 0 {
		cfg.MaxHandshakes = 64
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, h: h, ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{}}
}

// Serve accepts connections until Close. An accept error (out of file descriptors, a
// connection aborted before it was taken) is logged and retried after a pause that doubles
// up to a second; it never stops the server.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.acceptErrs.Warn(s.cfg.Logger, "replication accept failed; retrying", "err", err, "pause", pause)
			select {
			case <-s.ctx.Done():
				return nil
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
		if s.handshakes.Add(1) > int64(s.cfg.MaxHandshakes) {
			s.handshakes.Add(-1)
			s.refusals.Warn(s.cfg.Logger, "replication connection refused: too many in their handshake", "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveAccepted(c)
		}()
	}
}

// serveAccepted authenticates a connection, then serves it. Nothing the peer sends is read
// as a frame before the handshake succeeded.
func (s *Server) serveAccepted(c net.Conn) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	l, err := s.cfg.Security.accept(ctx, c)
	cancel()
	s.handshakes.Add(-1)
	if err != nil {
		if s.ctx.Err() == nil {
			s.refusals.Warn(s.cfg.Logger, "replication connection refused", "remote", c.RemoteAddr().String(), "err", err)
		}
		c.Close()
		return
	}
	if tc, ok := l.c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	k := newConn(l, s.cfg.MaxFrame)
	s.mu.Lock()
	if s.ctx.Err() != nil || len(s.conns) >= s.cfg.MaxConns {
		n := len(s.conns)
		s.mu.Unlock()
		if s.ctx.Err() == nil {
			s.refusals.Warn(s.cfg.Logger, "replication connection refused: too many", "remote", c.RemoteAddr().String(), "peer", l.peer, "conns", n)
		}
		k.close(net.ErrClosed)
		return
	}
	s.conns[k] = struct{}{}
	s.mu.Unlock()
	s.serveConn(k)
	s.mu.Lock()
	delete(s.conns, k)
	s.mu.Unlock()
}

// serveConn reads calls and runs each on the server's worker pool: a fresh goroutine per
// call would grow its stack from scratch through the decoder and the handler every time
// (stack copying was a fifth of a primary's CPU under load).
func (s *Server) serveConn(k *conn) {
	sem := make(chan struct{}, s.cfg.MaxInFlightPerConn)
	var calls sync.WaitGroup
	inline, _ := s.h.(InlineHandler)
	// Calls see the connection's context, cancelled once it is gone: their answers can no
	// longer arrive, and the caller, told the connection was lost, may send the command
	// again by another way. A forwarded write still queued here must not run after that.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	k.readLoop(func(f frame, more bool) {
		if f.kind != kindRequest {
			k.close(fmt.Errorf("unexpected frame kind %d", f.kind))
			return
		}
		if inline != nil {
			deferred, ok := s.serveInline(ctx, inline, k, f, more)
			if deferred != nil {
				sem <- struct{}{}
				calls.Add(1)
				s.inflight.Add(1)
				deferred(func(resp any, err error) {
					s.answer(k, f, resp, err, false)
					<-sem
					s.inflight.Add(-1)
					calls.Done()
				})
			}
			if ok {
				return
			}
		}
		sem <- struct{}{}
		calls.Add(1)
		s.inflight.Add(1)
		s.pool.Go(func() {
			defer func() { <-sem; s.inflight.Add(-1); calls.Done() }()
			s.serveFrame(ctx, k, f)
		})
	}, func() { k.flush() }) // answers queued inline go out before the reader waits
	cancel()
	if k.err != nil && !errors.Is(k.err, net.ErrClosed) && s.ctx.Err() == nil && !isEOF(k.err) {
		s.cfg.Logger.Debug("replication connection closed", "remote", k.c.RemoteAddr().String(), "err", k.err)
	}
	calls.Wait()
}

// serveInline offers a call to the handler's inline path and answers it if taken, unless
// the handler deferred the answer. While more requests are buffered the answer is only
// queued: the reader flushes before it waits.
func (s *Server) serveInline(ctx context.Context, h InlineHandler, k *conn, f frame, more bool) (deferred Deferred, ok bool) {
	dec := msgpack.GetDecoder()
	dec.Reset(bytes.NewReader(f.payload))
	resp, ok, err := h.ServeInline(ctx, f.method, dec)
	msgpack.PutDecoder(dec)
	if !ok {
		return nil, false
	}
	if d, _ := resp.(Deferred); d != nil && err == nil {
		return d, true
	}
	s.answer(k, f, resp, err, more)
	return nil, true
}

// serveFrame runs one call and sends its answer.
func (s *Server) serveFrame(ctx context.Context, k *conn, f frame) {
	dec := msgpack.GetDecoder()
	dec.Reset(bytes.NewReader(f.payload))
	resp, err := s.h.ServeCall(ctx, f.method, dec)
	msgpack.PutDecoder(dec)
	s.answer(k, f, resp, err, false)
}

// answer sends a call's response or error, or with hold only queues it.
func (s *Server) answer(k *conn, f frame, resp any, err error, hold bool) {
	if s.ctx.Err() != nil {
		// Closing: the caller must see a lost connection (ErrUnavailable), not an error
		// the shutdown itself caused in the handler.
		return
	}
	b := getBuf()
	kind := kindOK
	if err != nil {
		kind = kindError
		*b = append(*b, err.Error()...)
	} else if resp != nil {
		if err := encodeInto(b, resp); err != nil {
			kind = kindError
			*b = append((*b)[:headerLen], err.Error()...)
		}
	}
	finishFrame(*b, f.id, kind, f.method)
	if hold {
		k.queue(s.ctx, b)
		return
	}
	k.send(s.ctx, b)
}

func isEOF(err error) bool {
	return errors.Is(err, net.ErrClosed) || err.Error() == "EOF"
}

// Drain waits until no call is in flight (each taken call has been answered), or ctx ends;
// it reports whether it got there. Calls keep being taken meanwhile: a node leaving the
// cluster drains once its peers no longer route to it, so that writes it ran still get
// their answers before Close cuts the connections.
func (s *Server) Drain(ctx context.Context) bool {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for s.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// Close stops accepting, cancels in-flight handlers and closes every connection.
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	for k := range s.conns {
		k.close(net.ErrClosed)
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.pool.Close()
	return err
}
