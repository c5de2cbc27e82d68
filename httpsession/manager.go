package httpsession

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sessiongate/sessiongate/client"
)

// ErrNoSession is returned by the Manager methods that need a session when the request
// carries none. It also matches client.ErrNoSession.
var ErrNoSession = fmt.Errorf("httpsession: no session in the request: %w", client.ErrNoSession)

// Cookie holds the session cookie's attributes. The zero value is a secure default.
type Cookie struct {
	Name     string        // default "session"; a "__Host-" name needs Path "/", no Domain, Secure
	Path     string        // default "/"
	Domain   string        // default none: the cookie goes to this host only
	SameSite http.SameSite // default http.SameSiteLaxMode
	// Insecure drops the Secure attribute so the cookie travels over plain HTTP. For local
	// development only.
	Insecure bool
	// ScriptReadable drops HttpOnly, letting page scripts read the token. Rarely wise.
	ScriptReadable bool
}

// Config configures a Manager. Zero fields take the documented defaults.
type Config struct {
	// Client talks to sessiongate; its sign key names the tenant. Required.
	Client *client.Client
	Cookie Cookie
	// TTL is a new session's absolute lifetime and its cookie's Max-Age. Default 24h.
	TTL time.Duration
	// Idle ends a session unused for this long (sliding). Default 0: no idle timeout.
	Idle time.Duration
	// MaxSessions caps an owner's live sessions; Evict then ends the oldest at login
	// instead of refusing it with client.ErrOwnerLimit. Default 0: no cap.
	MaxSessions int
	Evict       bool
	// ClientIP tells the address recorded with a new session. Default: the host part of
	// r.RemoteAddr. Behind a proxy, read your trusted forwarding header here.
	ClientIP func(r *http.Request) string
	// ErrorHandler answers a request whose session could not be looked up because the store
	// failed. Default: 503 Service Unavailable with Retry-After: 1.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Unauthorized answers Require's requests that have no session. Default: 401.
	Unauthorized http.Handler
}

// Manager issues, loads, extends, rotates and clears sessions kept in sessiongate and
// carried in a cookie. It is safe for concurrent use.
type Manager struct {
	cfg Config
	c   *client.Client
}

// New returns a Manager for cfg.
func New(cfg Config) (*Manager, error) {
	if cfg.Client == nil {
		return nil, errors.New("httpsession: Config.Client is nil")
	}
	if cfg.Cookie.Name == "" {
		cfg.Cookie.Name = "session"
	}
	if err := (&http.Cookie{Name: cfg.Cookie.Name, Value: "x"}).Valid(); err != nil {
		return nil, fmt.Errorf("httpsession: Config.Cookie.Name: %w", err)
	}
	if cfg.Cookie.Path == "" {
		cfg.Cookie.Path = "/"
	}
	if cfg.Cookie.SameSite == 0 {
		cfg.Cookie.SameSite = http.SameSiteLaxMode
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteHost
	}
	if cfg.ErrorHandler == nil {
		cfg.ErrorHandler = unavailable
	}
	if cfg.Unauthorized == nil {
		cfg.Unauthorized = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		})
	}
	return &Manager{cfg: cfg, c: cfg.Client}, nil
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func unavailable(w http.ResponseWriter, _ *http.Request, _ error) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
}

// setCookie sends the session cookie, replacing any the response already carries.
func (m *Manager) setCookie(w http.ResponseWriter, token string, maxAge time.Duration) {
	secs := int((maxAge + time.Second - 1) / time.Second)
	expires := time.Now().Add(time.Duration(secs) * time.Second)
	if token == "" {
		secs, expires = -1, time.Unix(1, 0) // Max-Age=0 and a past Expires: delete
	}
	m.dropCookie(w)
	http.SetCookie(w, &http.Cookie{
		Name:     m.cfg.Cookie.Name,
		Value:    token,
		Path:     m.cfg.Cookie.Path,
		Domain:   m.cfg.Cookie.Domain,
		MaxAge:   secs,
		Expires:  expires.UTC(), // for clients that predate Max-Age
		Secure:   !m.cfg.Cookie.Insecure,
		HttpOnly: !m.cfg.Cookie.ScriptReadable,
		SameSite: m.cfg.Cookie.SameSite,
	})
}

// expireCookie tells the browser to forget the session cookie.
func (m *Manager) expireCookie(w http.ResponseWriter) { m.setCookie(w, "", 0) }

// dropCookie removes Set-Cookie headers for the session cookie set earlier in this
// response, so that (say) an Issue after the middleware expired a stale cookie leaves one
// unambiguous header.
func (m *Manager) dropCookie(w http.ResponseWriter) {
	h := w.Header()
	old := h.Values("Set-Cookie")
	if len(old) == 0 {
		return
	}
	h.Del("Set-Cookie")
	for _, v := range old {
		if !strings.HasPrefix(v, m.cfg.Cookie.Name+"=") {
			h.Add("Set-Cookie", v)
		}
	}
}

// truncate cuts s to at most n bytes (the server refuses longer metadata).
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
