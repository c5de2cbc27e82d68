package httpsession

import (
	"errors"
	"net/http"
	"time"

	"github.com/sessiongate/sessiongate/client"
)

// IssueOptions override Config for one Issue; zero fields take Config's values.
type IssueOptions struct {
	TTL  time.Duration
	Idle time.Duration // negative: no idle timeout even if Config.Idle has one
	// MaxSessions caps the owner's sessions (negative: no cap); Evict as in Config.
	MaxSessions int
	Evict       bool
	// Payload is stored with the new session before Issue returns.
	Payload map[string][]byte
}

// holder returns this Manager's session slot in r's context, or nil if its middleware did
// not run for r.
func (m *Manager) holder(r *http.Request) *holder {
	if h, _ := r.Context().Value(ctxKey{}).(*holder); h != nil && h.m == m {
		return h
	}
	return nil
}

// current returns the request's session or ErrNoSession.
func (m *Manager) current(r *http.Request) (*holder, *Session, error) {
	h := m.holder(r)
	if h == nil {
		return nil, nil, ErrNoSession
	}
	s := h.get()
	if s == nil {
		return h, nil, ErrNoSession
	}
	return h, s, nil
}

// Issue starts a session for owner (a user id; "" for an anonymous session) on login and
// sets its cookie. It records the client's IP and user agent. A session the request already
// had is ended, so that no token from before the login stays valid (session fixation).
// opts may be nil.
func (m *Manager) Issue(w http.ResponseWriter, r *http.Request, owner string, opts *IssueOptions) (*Session, error) {
	ctx := r.Context()
	var o IssueOptions
	if opts != nil {
		o = *opts
	}
	if o.TTL <= 0 {
		o.TTL = m.cfg.TTL
	}
	switch {
	case o.Idle == 0:
		o.Idle = m.cfg.Idle
	case o.Idle < 0:
		o.Idle = 0
	}
	switch {
	case o.MaxSessions == 0:
		o.MaxSessions, o.Evict = m.cfg.MaxSessions, m.cfg.Evict
	case o.MaxSessions < 0:
		o.MaxSessions = 0
	}
	h := m.holder(r)
	if h != nil {
		if old := h.get(); old != nil {
			if err := m.c.End(ctx, old.token); err != nil && !errors.Is(err, client.ErrNoSession) {
				return nil, err
			}
			h.set(nil)
		}
	}
	co := client.CreateOptions{
		Owner: owner, Idle: o.Idle, MaxSessions: o.MaxSessions, Evict: o.Evict,
		IP: truncate(m.cfg.ClientIP(r), 100), UA: truncate(r.UserAgent(), 1024),
	}
	if owner == "" {
		co.MaxSessions = 0 // a cap needs an owner
	}
	token, err := m.c.Create(ctx, o.TTL, co)
	if err != nil {
		return nil, err
	}
	if len(o.Payload) > 0 {
		ups := make([]client.Update, 0, len(o.Payload))
		for name, data := range o.Payload {
			ups = append(ups, client.Set(name, data))
		}
		if err := m.c.PUpdate(ctx, token, ups...); err != nil {
			m.c.End(ctx, token) // an unusable half-made session; it expires anyway if this fails
			return nil, err
		}
	}
	now := time.Now()
	s := &Session{m: m, token: token, ends: now.Add(o.TTL), info: client.SessionInfo{
		Owner: owner, Created: now.Truncate(time.Second), LastSeen: now.Truncate(time.Second),
		TTL: o.TTL, IdleTimeout: o.Idle, IP: co.IP, UA: co.UA, Payloads: len(o.Payload),
	}}
	if o.Idle > 0 && o.Idle < o.TTL {
		s.info.TTL = o.Idle
	}
	m.setCookie(w, token, o.TTL)
	if h != nil {
		h.set(s)
	}
	return s, nil
}

// Extend sets the request's session to end ttl from now (0: Config.TTL) and sends its
// cookie again with the new Max-Age. Sessions are not extended on their own; an idle
// timeout slides with every request instead.
func (m *Manager) Extend(w http.ResponseWriter, r *http.Request, ttl time.Duration) error {
	h, s, err := m.current(r)
	if err != nil {
		return err
	}
	if ttl <= 0 {
		ttl = m.cfg.TTL
	}
	if err := m.c.Expire(r.Context(), s.token, ttl); err != nil {
		m.forgetIfGone(w, h, err)
		return err
	}
	ns := *s
	ns.ends = time.Now().Add(ttl)
	h.set(&ns)
	m.setCookie(w, s.token, ttl)
	return nil
}

// Rotate gives the request's session a new token, replaces the cookie and ends the old
// token at once. Call it when privileges change (login to a higher role, password change)
// so that a token obtained before cannot ride along.
func (m *Manager) Rotate(w http.ResponseWriter, r *http.Request) (*Session, error) {
	h, s, err := m.current(r)
	if err != nil {
		return nil, err
	}
	token, err := m.c.Rotate(r.Context(), s.token)
	if err != nil {
		m.forgetIfGone(w, h, err)
		return nil, err
	}
	ns := *s
	ns.token = token
	h.set(&ns)
	m.setCookie(w, token, ns.cookieAge())
	return &ns, nil
}

// Clear ends the request's session (logout) and expires its cookie. The cookie is expired
// even when the store fails; the error is returned then.
func (m *Manager) Clear(w http.ResponseWriter, r *http.Request) error {
	m.expireCookie(w)
	h, s, err := m.current(r)
	if err != nil {
		return nil // nothing to end
	}
	h.set(nil)
	if err := m.c.End(r.Context(), s.token); err != nil && !errors.Is(err, client.ErrNoSession) {
		return err
	}
	return nil
}

// ClearEverywhere ends every session of the request's owner ("log out everywhere"), this
// one included, expires the cookie and returns how many sessions ended. An anonymous
// session is simply cleared.
func (m *Manager) ClearEverywhere(w http.ResponseWriter, r *http.Request) (int, error) {
	h, s, err := m.current(r)
	if err != nil {
		return 0, err
	}
	m.expireCookie(w)
	h.set(nil)
	if s.info.Owner == "" {
		if err := m.c.End(r.Context(), s.token); err != nil {
			if errors.Is(err, client.ErrNoSession) {
				return 0, nil
			}
			return 0, err
		}
		return 1, nil
	}
	return m.c.EndOwner(r.Context(), s.info.Owner)
}

// forgetIfGone drops the request's session and cookie when err says it no longer exists.
func (m *Manager) forgetIfGone(w http.ResponseWriter, h *holder, err error) {
	if invalid(err) {
		h.set(nil)
		m.expireCookie(w)
	}
}
