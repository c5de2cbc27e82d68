package client

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config describes the nodes to talk to and the tenant to act for. Zero fields take the
// documented defaults.
type Config struct {
	// Addrs are the nodes' RESP addresses. Every node serves every command, so the client
	// sticks to one and moves to the next on failure. Default ["127.0.0.1:6380"]. Give each
	// application instance the list in a different order to spread the load.
	Addrs []string
	// SignKey signs and verifies the tokens; it names the tenant. Required.
	SignKey []byte
	// Username and Password for AUTH (sessiongated --requirepass). Default none.
	Username, Password string
	// TLS, when set, makes every connection TLS (sessiongated --tls-addr): RootCAs to trust
	// the nodes, Certificates for --tls-auth-clients. An empty ServerName is each Addr's host.
	TLS *tls.Config
	// Protocol is the RESP version, 2 or 3. Default 3; replies decode the same either way.
	Protocol int
	// PoolSize is the connections kept per node. Default go-redis's, 10 per CPU.
	PoolSize int
	// DialTimeout bounds one connection attempt. Default 2s.
	DialTimeout time.Duration
	// ReadTimeout bounds the wait for one reply. Default 10s, longer than the server's own
	// 5s command bound, so that a forwarded command's TRYAGAIN arrives rather than a timeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds sending one command. Default 10s (payloads reach 8 MB).
	WriteTimeout time.Duration
	// MaxRetries is how many more attempts a retryable failure gets, each on the next node.
	// Default 3; negative disables retries.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the jittered, doubling pause between attempts.
	// Defaults 10ms and 500ms.
	MinBackoff, MaxBackoff time.Duration
}

// Client runs SESSIONGATE commands for one sign key against a set of nodes. It is safe for
// concurrent use.
type Client struct {
	cfg   Config
	key   []byte
	nodes []*redis.Client
	cur   atomic.Uint32 // index of the node calls go to first
}

// New returns a client for cfg. It does not connect until the first command.
func New(cfg Config) (*Client, error) {
	if len(cfg.SignKey) == 0 {
		return nil, &Error{Cmd: "New", Msg: "Config.SignKey is empty", Kind: ErrInvalidArgument}
	}
	if len(cfg.Addrs) == 0 {
		cfg.Addrs = []string{"127.0.0.1:6380"}
	}
	if cfg.Protocol == 0 {
		cfg.Protocol = 3
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 10 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(500*time.Millisecond, cfg.MinBackoff)
	}
	c := &Client{cfg: cfg, key: append([]byte(nil), cfg.SignKey...)}
	for _, addr := range cfg.Addrs {
		c.nodes = append(c.nodes, redis.NewClient(&redis.Options{
			Addr:     addr,
			Username: cfg.Username,
			Password: cfg.Password,
			Protocol: cfg.Protocol,
			PoolSize: cfg.PoolSize,
			// go-redis dials with tls.DialWithDialer, which fills an empty ServerName from
			// the address and bounds the handshake by DialTimeout.
			TLSConfig: cfg.TLS,
			// go-redis would retry TRYAGAIN and broken connections on the same node, START
			// included; retries here are ours, per command kind, across nodes.
			MaxRetries: -1,
			// One dial per attempt: a dead node should fail fast so the next one is tried.
			DialerRetries:         1,
			DialTimeout:           cfg.DialTimeout,
			ReadTimeout:           cfg.ReadTimeout,
			WriteTimeout:          cfg.WriteTimeout,
			ContextTimeoutEnabled: true,
			DisableIdentity:       true,
		}))
	}
	return c, nil
}

// Close closes every node's connections.
func (c *Client) Close() error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, n.Close())
	}
	return errors.Join(errs...)
}

// retry says which failures a command may repeat on another node.
type retry bool

const (
	// idempotent commands reach the same state when run twice, so any transport failure or
	// TRYAGAIN may be retried.
	idempotent retry = true
	// once commands (START, CREATE, ROTATE) mint a token: if the request may have reached a
	// node, a retry could create a second session (or, for ROTATE, find the old token
	// already ended and lose the new one). They are retried only when the request provably
	// never left this process (a failed dial).
	once retry = false
)

// do runs one command, moving to the next node on failures that r allows to be retried.
func (c *Client) do(ctx context.Context, r retry, args ...any) (any, error) {
	name := args[0].(string)
	for attempt := 0; ; attempt++ {
		i := c.cur.Load() % uint32(len(c.nodes))
		res, err := c.nodes[i].Do(ctx, args...).Result()
		if err == nil {
			return res, nil
		}
		e := wrap(ctx, name, err)
		if !c.retryable(e, err, r) || attempt >= c.cfg.MaxRetries {
			return nil, e
		}
		// Move on from the node that failed, unless another call already did.
		c.cur.CompareAndSwap(i, (i+1)%uint32(len(c.nodes)))
		if c.pause(ctx, attempt) != nil {
			return nil, wrap(ctx, name, err)
		}
	}
}

func (c *Client) retryable(e, raw error, r retry) bool {
	if c.cfg.MaxRetries < 0 || !errors.Is(e, ErrTryAgain) {
		return false
	}
	return r == idempotent || notSent(raw)
}

// pause waits a jittered, doubling backoff, or until ctx ends.
func (c *Client) pause(ctx context.Context, attempt int) error {
	d := c.cfg.MinBackoff << min(attempt, 16)
	d = min(d, c.cfg.MaxBackoff)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
