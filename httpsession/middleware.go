package httpsession

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/sessiongate/sessiongate/client"
)

type ctxKey struct{}

// holder is the request's session slot. The middleware puts one in the request context so
// that Issue, Rotate and Clear, which cannot replace the request, can still change what
// FromContext returns for the rest of the request.
type holder struct {
	m  *Manager
	mu sync.Mutex
	s  *Session
}

func (h *holder) get() *Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.s
}

func (h *holder) set(s *Session) {
	h.mu.Lock()
	h.s = s
	h.mu.Unlock()
}

// FromContext returns the request's session, as loaded by Middleware or Require and as
// changed since by Issue, Rotate or Clear. With several Managers nested, it is the
// innermost one's.
func FromContext(ctx context.Context) (*Session, bool) {
	h, _ := ctx.Value(ctxKey{}).(*holder)
	if h == nil {
		return nil, false
	}
	s := h.get()
	return s, s != nil
}

// Middleware loads the session named by the request's cookie into the request context
// (see FromContext). A missing, malformed, forged, ended or expired cookie means no
// session: the request goes on without one and the stale cookie is expired. If the store
// cannot be reached, Config.ErrorHandler answers instead (503 by default).
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r, ok := m.load(w, r); ok {
			next.ServeHTTP(w, r)
		}
	})
}

// Require is Middleware that answers Config.Unauthorized (401 by default) when the request
// has no session.
func (m *Manager) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, ok := m.load(w, r)
		if !ok {
			return
		}
		if _, ok := FromContext(r.Context()); !ok {
			m.cfg.Unauthorized.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// load returns r with this Manager's session slot filled, or false once the error handler
// has answered. A request this Manager already loaded is returned as it is.
func (m *Manager) load(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if h, _ := r.Context().Value(ctxKey{}).(*holder); h != nil && h.m == m {
		return r, true
	}
	h := &holder{m: m}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, h))
	cookies := r.CookiesNamed(m.cfg.Cookie.Name)
	if len(cookies) == 0 {
		return r, true
	}
	token := ""
	for _, c := range cookies {
		if client.ValidToken(c.Value) {
			token = c.Value
			break
		}
	}
	if token == "" {
		// Garbage never costs a round trip.
		m.expireCookie(w)
		return r, true
	}
	info, err := m.c.Info(r.Context(), token)
	switch {
	case err == nil:
		h.set(m.newSession(token, info))
	case invalid(err):
		m.expireCookie(w)
	default:
		m.cfg.ErrorHandler(w, r, err)
		return r, false
	}
	return r, true
}

// invalid reports whether err says the token names no usable session, as opposed to the
// store failing.
func invalid(err error) bool {
	return errors.Is(err, client.ErrNoSession) || errors.Is(err, client.ErrBadSignature) ||
		errors.Is(err, client.ErrWrongKey) || errors.Is(err, client.ErrBadToken)
}
