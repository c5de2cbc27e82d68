package client

import (
	"context"
	"strconv"
	"time"
)

// The six commands of the original module, with its Go driver's shapes: tokens are
// strings, durations round up to whole seconds.

// Start begins a session that ends after ttl and returns its token. A ttl of 0 returns the
// token of a session that has already ended. Start is never retried once the request may
// have reached a node (see Config.MaxRetries): ErrTryAgain from Start means the outcome is
// unknown, and a session may exist that nobody holds a token for; it expires with its ttl.
func (c *Client) Start(ctx context.Context, ttl time.Duration) (string, error) {
	secs, err := seconds("SESSIONGATE.START", "ttl", ttl)
	if err != nil {
		return "", err
	}
	return c.token(ctx, "SESSIONGATE.START", c.key, secs)
}

// Expire sets the session to end ttl from now; 0 ends it at once. Retried on failover, so
// an Expire(0) whose first attempt succeeded unseen may report ErrNoSession.
func (c *Client) Expire(ctx context.Context, token string, ttl time.Duration) error {
	secs, err := seconds("SESSIONGATE.EXPIRE", "ttl", ttl)
	if err != nil {
		return err
	}
	return c.ok(ctx, "SESSIONGATE.EXPIRE", c.key, token, secs)
}

// PSet stores data under name, replacing what was there. Names are 1..200 bytes, data
// 1..8,000,000 bytes (ErrBadPayload otherwise).
func (c *Client) PSet(ctx context.Context, token, name string, data []byte) error {
	return c.ok(ctx, "SESSIONGATE.PSET", c.key, token, name, data)
}

// PGet returns the data stored under name, or ErrNoPayload.
func (c *Client) PGet(ctx context.Context, token, name string) ([]byte, error) {
	res, err := c.do(ctx, idempotent, "SESSIONGATE.PGET", c.key, token, name)
	if err != nil {
		return nil, err
	}
	s, ok := res.(string)
	if !ok {
		return nil, malformed("SESSIONGATE.PGET", res)
	}
	return []byte(s), nil
}

// PDel removes the payload name. Like the module, it answers ErrNoPayload only when the
// session has no payloads at all, and nil for a missing name otherwise; PUpdate with a nil
// Data is the always-quiet delete. Retried on failover, so deleting the last payload may
// report ErrNoPayload if the first attempt succeeded unseen.
func (c *Client) PDel(ctx context.Context, token, name string) error {
	return c.ok(ctx, "SESSIONGATE.PDEL", c.key, token, name)
}

// End ends the session and drops its payloads. Retried on failover, so an End whose first
// attempt succeeded unseen reports ErrNoSession: callers logging a user out can treat
// ErrNoSession as success.
func (c *Client) End(ctx context.Context, token string) error {
	return c.ok(ctx, "SESSIONGATE.END", c.key, token)
}

// ok runs an idempotent command whose reply is +OK.
func (c *Client) ok(ctx context.Context, args ...any) error {
	res, err := c.do(ctx, idempotent, args...)
	if err != nil {
		return err
	}
	if s, _ := res.(string); s != "OK" {
		return malformed(args[0].(string), res)
	}
	return nil
}

// token runs a command that mints a token (START, CREATE, ROTATE).
func (c *Client) token(ctx context.Context, args ...any) (string, error) {
	res, err := c.do(ctx, once, args...)
	if err != nil {
		return "", err
	}
	s, ok := res.(string)
	if !ok || !ValidToken(s) {
		return "", malformed(args[0].(string), res)
	}
	return s, nil
}

// integer runs an idempotent command whose reply is an integer.
func (c *Client) integer(ctx context.Context, args ...any) (int64, error) {
	res, err := c.do(ctx, idempotent, args...)
	if err != nil {
		return 0, err
	}
	n, ok := res.(int64)
	if !ok {
		return 0, malformed(args[0].(string), res)
	}
	return n, nil
}

// seconds renders d as whole seconds, rounded up so that a session never ends early.
func seconds(cmd, what string, d time.Duration) (string, error) {
	if d < 0 {
		return "", &Error{Cmd: cmd, Msg: what + " must not be negative", Kind: ErrInvalidArgument}
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return strconv.FormatInt(s, 10), nil
}
