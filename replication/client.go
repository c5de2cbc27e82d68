package replication

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ClientConfig tunes a Client.
type ClientConfig struct {
	// DialTimeout bounds connecting. Default 2s.
	DialTimeout time.Duration
	// MaxFrame bounds a response. Default 64 MiB.
	MaxFrame int
	// Dial connects to a peer; tests inject faults here. Default a net.Dialer.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// RetryBackoff is how long a peer that failed to connect fails fast. Default 200ms.
	RetryBackoff time.Duration
	// Security is how this node proves itself to peers. Default nil: insecure.
	Security *Security
}

// Client calls peers over one persistent connection per peer, shared by all calls.
type Client struct {
	cfg    ClientConfig
	mu     sync.Mutex
	peers  map[string]*peer
	closed bool
}

type peer struct {
	mu       sync.Mutex                 // held while dialling
	live     atomic.Pointer[clientConn] // cc, readable without waiting for a dial
	cc       *clientConn
	failedAt time.Time
	failErr  error
}

type result struct {
	kind    byte
	payload []byte
}

type clientConn struct {
	*conn
	nextID  atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]chan result
	// async holds the calls made with Go, answered by callback instead of a waiting caller.
	async map[uint64]asyncCall
	// drained is closed once the connection is gone and every async call on it has been told:
	// a peer's next connection is made only after that (see Go).
	drained chan struct{}
}

type asyncCall struct {
	done     func(error)
	deadline time.Time
	addr     string
}

// NewClient returns a client with no connections yet; they are made on first use.
func NewClient(cfg ClientConfig) *Client {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 200 * time.Millisecond
	}
	if cfg.Dial == nil {
		d := &net.Dialer{}
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return &Client{cfg: cfg, peers: map[string]*peer{}}
}

// Call sends req to addr and decodes the answer into resp (unless resp is nil). Transport
// failures wrap ErrUnavailable; a handler's error comes back as *RemoteError.
func (c *Client) Call(ctx context.Context, addr string, m Method, req, resp any) error {
	cc, err := c.connFor(ctx, addr)
	if err != nil {
		return err
	}
	b := getBuf()
	if req != nil {
		if err := encodeInto(b, req); err != nil {
			putBuf(b)
			return fmt.Errorf("replication: encode request: %w", err)
		}
	}
	id := cc.nextID.Add(1)
	ch := make(chan result, 1)
	cc.mu.Lock()
	cc.pending[id] = ch
	cc.mu.Unlock()
	defer func() {
		cc.mu.Lock()
		delete(cc.pending, id)
		cc.mu.Unlock()
	}()
	finishFrame(*b, id, kindRequest, m)
	if err := cc.send(ctx, b); err != nil {
		return err
	}
	select {
	case r := <-ch:
		if r.kind == kindError {
			return &RemoteError{Msg: string(r.payload)}
		}
		if resp != nil && len(r.payload) > 0 {
			if err := decodeFrom(r.payload, resp); err != nil {
				return fmt.Errorf("replication: decode response: %w", err)
			}
		}
		return nil
	case <-cc.done:
		return fmt.Errorf("%w: %s: %w: %v", ErrUnavailable, addr, ErrConnLost, cc.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) connFor(ctx context.Context, addr string) (*clientConn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: client closed", ErrUnavailable)
	}
	p := c.peers[addr]
	if p == nil {
		p = &peer{}
		c.peers[addr] = p
	}
	c.mu.Unlock()

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cc != nil {
		select {
		case <-p.cc.done:
			// Closed: wait until its async calls have been failed, so that no call on the
			// next connection can overtake the news that one on this one failed.
			<-p.cc.drained
			p.cc = nil
		default:
			return p.cc, nil
		}
	}
	// A peer that just failed fails fast instead of making every caller wait for a dial.
	if time.Since(p.failedAt) < c.cfg.RetryBackoff {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, addr, p.failErr)
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	nc, err := c.cfg.Dial(dctx, addr)
	if err != nil {
		p.failedAt, p.failErr = time.Now(), err
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	l, err := c.cfg.Security.dial(dctx, nc, addr)
	if err != nil {
		nc.Close()
		p.failedAt, p.failErr = time.Now(), err
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, addr, err)
	}
	cc := &clientConn{conn: newConn(l, c.cfg.MaxFrame), pending: map[uint64]chan result{},
		async: map[uint64]asyncCall{}, drained: make(chan struct{})}
	go func() {
		cc.readLoop(func(f frame, _ bool) {
			cc.mu.Lock()
			ch := cc.pending[f.id]
			a, isAsync := cc.async[f.id]
			delete(cc.async, f.id)
			cc.mu.Unlock()
			switch {
			case ch != nil:
				ch <- result{kind: f.kind, payload: f.payload}
			case isAsync && f.kind == kindError:
				a.done(&RemoteError{Msg: string(f.payload)})
			case isAsync:
				a.done(nil)
			}
		}, nil)
		cc.failAsync(func(asyncCall) bool { return true })
		close(cc.drained)
	}()
	go cc.expireAsync()
	p.cc = cc
	p.live.Store(cc)
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		cc.close(errors.New("client closed"))
		return nil, fmt.Errorf("%w: client closed", ErrUnavailable)
	}
	return cc, nil
}

// Connected reports whether a live connection to addr exists now (Go to such a peer queues
// without dialling, unless the connection breaks meanwhile).
func (c *Client) Connected(addr string) bool {
	c.mu.Lock()
	p := c.peers[addr]
	c.mu.Unlock()
	if p == nil {
		return false
	}
	cc := p.live.Load()
	if cc == nil {
		return false
	}
	select {
	case <-cc.done:
		return false
	default:
		return true
	}
}

// Connect makes sure a connection to addr exists, dialling if needed.
func (c *Client) Connect(ctx context.Context, addr string) error {
	_, err := c.connFor(ctx, addr)
	return err
}

// Identify returns the name the peer at addr gave in its handshake, connecting if needed.
func (c *Client) Identify(ctx context.Context, addr string) (string, error) {
	cc, err := c.connFor(ctx, addr)
	if err != nil {
		return "", err
	}
	return cc.peer, nil
}

// Go sends req to addr without waiting for the answer: done runs once, with nil, the
// remote error, or a failure (ErrUnavailable, or a timeout after timeout). done runs on the
// connection's reader goroutine, or on the caller's when sending fails, so it must be quick.
// The request is queued for the wire before Go returns: calls and Go to one peer made one
// after another from one goroutine reach it in that order.
func (c *Client) Go(ctx context.Context, addr string, m Method, req any, timeout time.Duration, done func(error)) {
	cc, err := c.connFor(ctx, addr)
	if err != nil {
		done(err)
		return
	}
	b := getBuf()
	if req != nil {
		if err := encodeInto(b, req); err != nil {
			putBuf(b)
			done(fmt.Errorf("replication: encode request: %w", err))
			return
		}
	}
	id := cc.nextID.Add(1)
	cc.mu.Lock()
	select {
	case <-cc.done:
		// The reader may have failed the async calls already; this one would never hear.
		cc.mu.Unlock()
		putBuf(b)
		done(fmt.Errorf("%w: %s: connection lost: %v", ErrUnavailable, addr, cc.err))
		return
	default:
	}
	cc.async[id] = asyncCall{done: done, deadline: time.Now().Add(timeout), addr: addr}
	cc.mu.Unlock()
	finishFrame(*b, id, kindRequest, m)
	if err := cc.send(ctx, b); err != nil {
		cc.mu.Lock()
		_, mine := cc.async[id]
		delete(cc.async, id)
		cc.mu.Unlock()
		if mine { // else the reader failed it already, on the connection's close
			done(err)
		}
	}
}

// asyncTick is how often a connection looks for async calls past their deadline.
const asyncTick = 100 * time.Millisecond

// expireAsync fails the async calls whose deadline has passed, until the connection closes.
func (cc *clientConn) expireAsync() {
	t := time.NewTicker(asyncTick)
	defer t.Stop()
	for {
		select {
		case <-cc.done:
			return
		case now := <-t.C:
			cc.failAsync(func(a asyncCall) bool { return now.After(a.deadline) })
		}
	}
}

// failAsync removes the async calls that match and tells each why it failed.
func (cc *clientConn) failAsync(match func(asyncCall) bool) {
	var failed []asyncCall
	cc.mu.Lock()
	for id, a := range cc.async {
		if match(a) {
			failed = append(failed, a)
			delete(cc.async, id)
		}
	}
	cc.mu.Unlock()
	for _, a := range failed {
		select {
		case <-cc.done:
			a.done(fmt.Errorf("%w: %s: connection lost: %v", ErrUnavailable, a.addr, cc.err))
		default:
			a.done(fmt.Errorf("%w: %s: no answer in time", ErrUnavailable, a.addr))
		}
	}
}

// Close closes every connection; pending and later calls fail with ErrUnavailable.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	peers := c.peers
	c.peers = map[string]*peer{}
	c.mu.Unlock()
	for _, p := range peers {
		p.mu.Lock()
		if p.cc != nil {
			p.cc.close(errors.New("client closed"))
		}
		p.mu.Unlock()
	}
	return nil
}
