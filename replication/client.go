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
}

// Client calls peers over one persistent connection per peer, shared by all calls.
type Client struct {
	cfg    ClientConfig
	mu     sync.Mutex
	peers  map[string]*peer
	closed bool
}

type peer struct {
	mu       sync.Mutex
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
		return fmt.Errorf("%w: %s: connection lost: %v", ErrUnavailable, addr, cc.err)
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
			p.cc = nil
		default:
			return p.cc, nil
		}
	}
	// A peer that just failed fails fast instead of making every caller wait for a dial.
	if time.Since(p.failedAt) < c.cfg.RetryBackoff {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, addr, p.failErr)
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
	cc := &clientConn{conn: newConn(nc, c.cfg.MaxFrame), pending: map[uint64]chan result{}}
	go cc.readLoop(func(f frame, _ bool) {
		cc.mu.Lock()
		ch := cc.pending[f.id]
		cc.mu.Unlock()
		if ch != nil {
			ch <- result{kind: f.kind, payload: f.payload}
		}
	}, nil)
	p.cc = cc
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		cc.close(errors.New("client closed"))
		return nil, fmt.Errorf("%w: client closed", ErrUnavailable)
	}
	return cc, nil
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
