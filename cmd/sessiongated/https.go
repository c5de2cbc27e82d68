package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sessiongate/sessiongate/ratelog"
)

// HTTPS handshakes run off the accept path, each within httpsHandshakeTimeout, at most
// maxPendingHandshakes at once (more are closed unanswered): a stranger who connects and
// says nothing holds neither net/http's accept loop nor one of its --http-max-conns slots.
const (
	httpsHandshakeTimeout = 10 * time.Second
	maxPendingHandshakes  = 512
)

// handshakeListener hands out server-side TLS connections whose handshake has completed.
// The HTTP front end sees only those, so its connection cap, and the 503 it writes to a
// connection past the cap, never wait on a peer's handshake (tls.NewListener's connections
// would: their first Write runs the handshake and waits for the peer's hello).
type handshakeListener struct {
	inner   net.Listener
	cfg     *tls.Config
	timeout time.Duration
	pending chan struct{} // one token per handshake in progress
	conns   chan net.Conn
	errs    chan error // unbuffered: one inner Accept per failed outer Accept, no spinning
	done    chan struct{}
	ctx     context.Context // ends with Close, and with it every handshake in progress
	cancel  context.CancelFunc
	once    sync.Once
	log     *slog.Logger
	failed  ratelog.Limiter // failed handshakes, as the RESP server logs them
}

func newHandshakeListener(inner net.Listener, cfg *tls.Config, timeout time.Duration, maxPending int, log *slog.Logger) *handshakeListener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &handshakeListener{
		inner: inner, cfg: cfg, timeout: timeout, log: log,
		pending: make(chan struct{}, maxPending), conns: make(chan net.Conn),
		errs: make(chan error), done: make(chan struct{}),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	go l.acceptLoop()
	return l
}

// acceptLoop accepts raw connections and starts their handshakes. An accept error goes to
// the caller of Accept unchanged (net/http backs off on temporary ones before it asks again).
func (l *handshakeListener) acceptLoop() {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		select {
		case l.pending <- struct{}{}:
		default:
			c.Close()
			continue
		}
		go l.handshake(c)
	}
}

func (l *handshakeListener) handshake(c net.Conn) {
	defer func() { <-l.pending }()
	tc := tls.Server(c, l.cfg)
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		// A connection closed before its hello is a TCP probe, not worth a warning.
		if !errors.Is(err, io.EOF) {
			l.failed.Warn(l.log, "https handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		}
		c.Close()
		return
	}
	select {
	case l.conns <- tc:
	case <-l.done:
		tc.Close()
	}
}

// Accept returns the next connection whose handshake completed, or an accept error.
func (l *handshakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; handshakes in progress end with their connections closed.
func (l *handshakeListener) Close() error {
	l.once.Do(func() { close(l.done); l.cancel() })
	return l.inner.Close()
}

// Addr is the inner listener's address.
func (l *handshakeListener) Addr() net.Addr { return l.inner.Addr() }
