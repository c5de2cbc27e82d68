package httpsession

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/sessiongate/sessiongate/client"
)

// Session is one request's view of a session: its token, what the store said about it
// when it was loaded, and helpers for its payloads. After Rotate the old Session's token is
// dead; use the one Rotate returns (FromContext returns it too).
type Session struct {
	m     *Manager
	token string
	info  client.SessionInfo
	// ends is the absolute deadline when known (issued, extended, or loaded without an
	// idle timeout), used for the cookie's Max-Age when the cookie is sent again.
	ends time.Time
}

func (m *Manager) newSession(token string, info client.SessionInfo) *Session {
	s := &Session{m: m, token: token, info: info}
	if info.IdleTimeout == 0 {
		// Without an idle timeout INFO's ttl is the absolute deadline.
		s.ends = time.Now().Add(info.TTL)
	}
	return s
}

// Token returns the session's token, the cookie's value.
func (s *Session) Token() string { return s.token }

// Owner returns the user id the session was issued for ("" for an anonymous session).
func (s *Session) Owner() string { return s.info.Owner }

// Info returns what the store said about the session when it was loaded or issued.
func (s *Session) Info() client.SessionInfo { return s.info }

// cookieAge is how long a re-sent cookie should live.
func (s *Session) cookieAge() time.Duration {
	if d := time.Until(s.ends); !s.ends.IsZero() && d > 0 {
		return d
	}
	// Under an idle timeout the store does not reveal the absolute deadline; a cookie that
	// outlives its session is harmless (it reads as no session and is then expired).
	return s.m.cfg.TTL
}

// Get returns the payload name, and false if it is not set.
func (s *Session) Get(ctx context.Context, name string) ([]byte, bool, error) {
	data, err := s.m.c.PGet(ctx, s.token, name)
	if errors.Is(err, client.ErrNoPayload) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// Set stores data under name (1..200 bytes of name, 1..8,000,000 of data).
func (s *Session) Set(ctx context.Context, name string, data []byte) error {
	return s.m.c.PSet(ctx, s.token, name, data)
}

// Delete removes the named payloads; missing names are not an error.
func (s *Session) Delete(ctx context.Context, names ...string) error {
	ups := make([]client.Update, len(names))
	for i, n := range names {
		ups[i] = client.Del(n)
	}
	return s.m.c.PUpdate(ctx, s.token, ups...)
}

// Update applies several sets and deletes atomically (see client.PUpdate).
func (s *Session) Update(ctx context.Context, updates ...client.Update) error {
	return s.m.c.PUpdate(ctx, s.token, updates...)
}

// All returns every payload.
func (s *Session) All(ctx context.Context) (map[string][]byte, error) {
	return s.m.c.PGetAll(ctx, s.token)
}

// GetJSON decodes the payload name into v, and reports false if it is not set.
func (s *Session) GetJSON(ctx context.Context, name string, v any) (bool, error) {
	data, ok, err := s.Get(ctx, name)
	if !ok || err != nil {
		return ok, err
	}
	return true, json.Unmarshal(data, v)
}

// SetJSON stores v, encoded as JSON, under name.
func (s *Session) SetJSON(ctx context.Context, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.Set(ctx, name, data)
}
