package client

import (
	"context"
	"strconv"
	"time"
)

// CreateOptions are Create's optional settings; the zero value is a plain Start.
type CreateOptions struct {
	Owner string        // user id, 1..200 bytes; groups sessions for List, EndOwner, Activity
	Idle  time.Duration // sliding timeout: the session ends after this long unused (0: none)
	IP    string        // client address to record, at most 100 bytes
	UA    string        // user agent to record, at most 1024 bytes
	// MaxSessions caps the owner's live sessions (needs Owner). At the cap Create fails with
	// ErrOwnerLimit, or with Evict ends the owner's oldest sessions to make room.
	MaxSessions int
	Evict       bool
}

// Create begins a session with an owner, an idle timeout and metadata. Like Start it is not
// retried once the request may have reached a node.
func (c *Client) Create(ctx context.Context, ttl time.Duration, o CreateOptions) (string, error) {
	const cmd = "SESSIONGATE.CREATE"
	secs, err := seconds(cmd, "ttl", ttl)
	if err != nil {
		return "", err
	}
	args := []any{cmd, c.key, secs}
	if o.Owner != "" {
		args = append(args, "OWNER", o.Owner)
	}
	if o.Idle != 0 {
		idle, err := seconds(cmd, "idle", o.Idle)
		if err != nil {
			return "", err
		}
		args = append(args, "IDLE", idle)
	}
	if o.IP != "" {
		args = append(args, "IP", o.IP)
	}
	if o.UA != "" {
		args = append(args, "UA", o.UA)
	}
	if o.MaxSessions < 0 {
		return "", &Error{Cmd: cmd, Msg: "MaxSessions must not be negative", Kind: ErrInvalidArgument}
	}
	if o.MaxSessions > 0 {
		policy := "REFUSE"
		if o.Evict {
			policy = "EVICT"
		}
		args = append(args, "MAXSESSIONS", strconv.Itoa(o.MaxSessions), policy)
	}
	return c.token(ctx, args...)
}

// Info returns everything about a session but its payloads. It counts as a read, so it
// refreshes the idle timer.
func (c *Client) Info(ctx context.Context, token string) (SessionInfo, error) {
	res, err := c.do(ctx, idempotent, "SESSIONGATE.INFO", c.key, token)
	if err != nil {
		return SessionInfo{}, err
	}
	return decodeInfo("SESSIONGATE.INFO", res)
}

// PGetAll returns every payload of the session.
func (c *Client) PGetAll(ctx context.Context, token string) (map[string][]byte, error) {
	res, err := c.do(ctx, idempotent, "SESSIONGATE.PGETALL", c.key, token)
	if err != nil {
		return nil, err
	}
	return decodePayloads(res)
}

// Update is one change of a PUpdate: a Data of nil deletes Name; any other Data (even an
// empty one, which the server refuses) sets it.
type Update struct {
	Name string
	Data []byte
}

// Set is the Update that stores data under name.
func Set(name string, data []byte) Update {
	if data == nil {
		data = []byte{} // a nil would delete; an empty set must reach the server to be refused
	}
	return Update{Name: name, Data: data}
}

// Del is the Update that removes name; a missing name is not an error.
func Del(name string) Update { return Update{Name: name} }

// PUpdate applies all updates atomically: every one of them, or (on ErrBadPayload) none.
// With no updates it does nothing and returns nil without asking the server.
func (c *Client) PUpdate(ctx context.Context, token string, updates ...Update) error {
	if len(updates) == 0 {
		return nil
	}
	args := make([]any, 0, 3+3*len(updates))
	args = append(args, "SESSIONGATE.PUPDATE", c.key, token)
	for _, u := range updates {
		if u.Data == nil {
			args = append(args, "DEL", u.Name)
		} else {
			args = append(args, "SET", u.Name, u.Data)
		}
	}
	return c.ok(ctx, args...)
}

// TTL returns the time until the session ends: the earlier of its absolute and its idle
// deadline, rounded up to a second. It does not count as a read.
func (c *Client) TTL(ctx context.Context, token string) (time.Duration, error) {
	n, err := c.integer(ctx, "SESSIONGATE.TTL", c.key, token)
	return time.Duration(n) * time.Second, err
}

// SetIdle sets the session's sliding timeout; 0 removes it.
func (c *Client) SetIdle(ctx context.Context, token string, idle time.Duration) error {
	secs, err := seconds("SESSIONGATE.IDLE", "idle", idle)
	if err != nil {
		return err
	}
	return c.ok(ctx, "SESSIONGATE.IDLE", c.key, token, secs)
}

// Rotate issues a new token for the session (same owner, metadata, payloads and deadlines)
// and ends the old one at once: call it when privileges change, against session fixation.
// It is not retried once the request may have reached a node: a retry after an unseen
// success would find the old token ended (ErrNoSession) and the new token lost.
func (c *Client) Rotate(ctx context.Context, token string) (string, error) {
	return c.token(ctx, "SESSIONGATE.ROTATE", c.key, token)
}

// List returns the owner's live sessions (devices), oldest first, with their tokens.
func (c *Client) List(ctx context.Context, owner string) ([]SessionInfo, error) {
	res, err := c.do(ctx, idempotent, "SESSIONGATE.LIST", c.key, owner)
	if err != nil {
		return nil, err
	}
	return decodeList("SESSIONGATE.LIST", res)
}

// EndOwner ends every session of the owner ("log out everywhere") and returns how many
// ended. It is retried on failover; the count then covers the last attempt only.
func (c *Client) EndOwner(ctx context.Context, owner string) (int, error) {
	n, err := c.integer(ctx, "SESSIONGATE.ENDOWNER", c.key, owner)
	return int(n), err
}

// EndAll ends every session of the tenant and returns how many ended. Retried like EndOwner.
func (c *Client) EndAll(ctx context.Context) (int, error) {
	n, err := c.integer(ctx, "SESSIONGATE.ENDALL", c.key)
	return int(n), err
}

// Activity counts the distinct owners with a session read or written within window.
// Sessions without an owner are not counted.
func (c *Client) Activity(ctx context.Context, window time.Duration) (int, error) {
	secs, err := seconds("SESSIONGATE.ACTIVITY", "window", window)
	if err != nil {
		return 0, err
	}
	n, err := c.integer(ctx, "SESSIONGATE.ACTIVITY", c.key, secs)
	return int(n), err
}

// Active returns the tenant's sessions used within window, most recent first, at most
// limit of them (0: the server's default of 1000; the server allows up to 100000).
func (c *Client) Active(ctx context.Context, window time.Duration, limit int) ([]SessionInfo, error) {
	const cmd = "SESSIONGATE.ACTIVE"
	secs, err := seconds(cmd, "window", window)
	if err != nil {
		return nil, err
	}
	args := []any{cmd, c.key, secs}
	switch {
	case limit < 0:
		return nil, &Error{Cmd: cmd, Msg: "limit must not be negative", Kind: ErrInvalidArgument}
	case limit > 0:
		args = append(args, "LIMIT", strconv.Itoa(limit))
	}
	res, err := c.do(ctx, idempotent, args...)
	if err != nil {
		return nil, err
	}
	return decodeList(cmd, res)
}
