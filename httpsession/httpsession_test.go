package httpsession

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/client"
)

func TestIssueCookieAttributes(t *testing.T) {
	m := newManager(t, Config{TTL: 2 * time.Hour, Cookie: Cookie{
		Name: "sid", Path: "/app", Domain: "example.com", SameSite: http.SameSiteStrictMode,
	}})
	c := login(t, m, "user1", nil)
	if !client.ValidToken(c.Value) || c.Path != "/app" || c.Domain != "example.com" || !c.HttpOnly || !c.Secure ||
		c.SameSite != http.SameSiteStrictMode || c.MaxAge != 7200 {
		t.Fatalf("cookie %+v", c)
	}
	if d := time.Until(c.Expires); d < 119*time.Minute || d > 121*time.Minute {
		t.Fatalf("Expires %v from now", d)
	}
	// The session records the owner, the client address and its user agent.
	info, err := m.c.Info(context.Background(), c.Value)
	must(t, err)
	if info.Owner != "user1" || info.IP != "192.0.2.7" || info.UA != "TestBrowser/1.0" || info.TTL <= 119*time.Minute {
		t.Fatalf("session %+v", info)
	}
}

func TestCookieDefaultsAndOptOuts(t *testing.T) {
	cl := newClient(t)
	m := newManager(t, Config{Client: cl})
	c := login(t, m, "u", nil)
	if c.Name != "session" || c.Path != "/" || c.Domain != "" || !c.Secure || !c.HttpOnly ||
		c.SameSite != http.SameSiteLaxMode || c.MaxAge != 86400 {
		t.Fatalf("default cookie %+v", c)
	}
	m = newManager(t, Config{Client: cl, Cookie: Cookie{Insecure: true, ScriptReadable: true}})
	c = login(t, m, "u", nil)
	if c.Secure || c.HttpOnly {
		t.Fatalf("opted-out cookie %+v", c)
	}
	if _, err := New(Config{Client: cl, Cookie: Cookie{Name: "bad name;"}}); err == nil {
		t.Fatal("an invalid cookie name was accepted")
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("a Config without Client was accepted")
	}
}

func TestMiddlewareLoadsSession(t *testing.T) {
	m := newManager(t, Config{Idle: 10 * time.Minute})
	c := login(t, m, "user2", &IssueOptions{Payload: map[string][]byte{"theme": []byte("dark")}})
	var p probe
	w := serve(m.Middleware(p.handler()), "GET", "/", c)
	if w.Code != 200 || !p.has || p.owner != "user2" || p.token != c.Value {
		t.Fatalf("status %d, probe %+v", w.Code, p)
	}
	if sessionCookie(t, w, "session") != nil {
		t.Fatal("a valid session's cookie was sent again on a plain request")
	}
	// Payload helpers work on the loaded session.
	h := m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := FromContext(r.Context())
		ctx := r.Context()
		if s.Info().IdleTimeout != 10*time.Minute || s.Info().Payloads != 1 {
			t.Errorf("Info %+v", s.Info())
		}
		theme, ok, err := s.Get(ctx, "theme")
		if err != nil || !ok || string(theme) != "dark" {
			t.Errorf("Get theme: %q %v %v", theme, ok, err)
		}
		if _, ok, err := s.Get(ctx, "missing"); ok || err != nil {
			t.Errorf("Get missing: %v %v", ok, err)
		}
		type prefs struct{ Lang string }
		must(t, s.SetJSON(ctx, "prefs", prefs{"fr"}))
		var got prefs
		if ok, err := s.GetJSON(ctx, "prefs", &got); !ok || err != nil || got.Lang != "fr" {
			t.Errorf("GetJSON %v %v %+v", ok, err, got)
		}
		must(t, s.Update(ctx, client.Set("a", []byte("1")), client.Del("theme")))
		must(t, s.Delete(ctx, "prefs", "never-set"))
		all, err := s.All(ctx)
		if err != nil || len(all) != 1 || string(all["a"]) != "1" {
			t.Errorf("All %q %v", all, err)
		}
	}))
	if w := serve(h, "GET", "/", c); w.Code != 200 {
		t.Fatalf("Require with a session: %d", w.Code)
	}
}

func TestNoCookie(t *testing.T) {
	m := newManager(t, Config{})
	var p probe
	if w := serve(m.Middleware(p.handler()), "GET", "/"); w.Code != 200 || p.has || len(w.Header().Values("Set-Cookie")) != 0 {
		t.Fatalf("no cookie: %d %+v %q", w.Code, p, w.Header().Values("Set-Cookie"))
	}
	if w := serve(m.Require(p.handler()), "GET", "/"); w.Code != 401 {
		t.Fatalf("Require without a cookie: %d", w.Code)
	}
}

func hmacHex(key, msg string) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}

// Forged, foreign, ended and garbage cookies all read as no session: 200 through
// Middleware, 401 through Require, never a 500, and the cookie is expired.
func TestBadCookiesAreNoSession(t *testing.T) {
	m := newManager(t, Config{})
	good := login(t, m, "victim", nil).Value
	id := good[3:19]

	other, err := client.New(client.Config{Addrs: []string{nodeAddr}, SignKey: []byte("another-tenant")})
	must(t, err)
	defer other.Close()
	foreign, err := other.Start(context.Background(), time.Hour)
	must(t, err)

	ended := login(t, m, "victim", nil).Value
	must(t, m.c.End(context.Background(), ended))

	cases := map[string]string{
		"forged signature":          "v1." + id + "." + hmacHex("guessed-key", id),
		"flipped signature digit":   good[:83] + map[bool]string{true: "1", false: "0"}[good[83] == '0'],
		"another tenant's token":    foreign,
		"ended session":             ended,
		"never existed":             "v1.AAAAAAAAAAAAAAAA." + hmacHex("key-"+t.Name(), "AAAAAAAAAAAAAAAA"),
		"empty":                     "",
		"short":                     "abc",
		"84 letters":                strings.Repeat("a", 84),
		"uppercase signature":       strings.ToUpper(good[:3]) + good[3:20] + strings.ToUpper(good[20:]),
		"v2 prefix":                 "v2" + good[2:],
		"token with trailing bytes": good + "00",
		"huge":                      strings.Repeat("v1.", 3000),
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			c := &http.Cookie{Name: "session", Value: value}
			var p probe
			w := serve(m.Middleware(p.handler()), "GET", "/", c)
			if w.Code != 200 || p.has {
				t.Fatalf("Middleware: status %d, session %v", w.Code, p.has)
			}
			w = serve(m.Require(p.handler()), "GET", "/", c)
			if w.Code != 401 {
				t.Fatalf("Require: status %d", w.Code)
			}
			if value != "" {
				if sc := sessionCookie(t, w, "session"); sc == nil || sc.MaxAge >= 0 || sc.Value != "" {
					t.Fatalf("stale cookie not expired: %+v", sc)
				}
			}
		})
	}
	// The victim's session is untouched by all that.
	var p probe
	serve(m.Middleware(p.handler()), "GET", "/", &http.Cookie{Name: "session", Value: good})
	if !p.has {
		t.Fatal("the real session was lost")
	}
}

// Cookie headers no browser would send are no session either, never a 500.
func TestRawCookieHeaders(t *testing.T) {
	m := newManager(t, Config{})
	good := login(t, m, "u", nil).Value
	for _, raw := range []string{
		"session=" + good[:40] + "\u00e9" + good[42:],
		"session=\"" + good,
		"session=" + good + "; session=junk; =; ;;",
		"session",
		"session=\x00\xff\xfe",
		strings.Repeat("session=x; ", 500),
	} {
		r := newRequest()
		r.Header.Set("Cookie", raw)
		w := httptestRecorder()
		var p probe
		m.Require(p.handler()).ServeHTTP(w, r)
		if w.Code != 401 && w.Code != 200 {
			t.Errorf("Cookie %q: status %d", raw, w.Code)
		}
	}
}

// With several cookies of the session's name, the first well-formed one is used.
func TestFirstWellFormedCookieWins(t *testing.T) {
	m := newManager(t, Config{})
	c := login(t, m, "u", nil)
	var p probe
	serve(m.Middleware(p.handler()), "GET", "/", &http.Cookie{Name: "session", Value: "junk"}, c)
	if !p.has || p.token != c.Value {
		t.Fatalf("probe %+v", p)
	}
}

func TestRotate(t *testing.T) {
	m := newManager(t, Config{})
	old := login(t, m, "user3", &IssueOptions{Payload: map[string][]byte{"cart": []byte("3 items")}})
	var rotated *Session
	h := m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Rotate(w, r)
		if err != nil {
			t.Errorf("Rotate: %v", err)
			return
		}
		rotated = s
		if cur, _ := FromContext(r.Context()); cur != s {
			t.Error("FromContext does not return the rotated session")
		}
	}))
	w := serve(h, "POST", "/sudo", old)
	nc := sessionCookie(t, w, "session")
	if nc == nil || nc.Value == old.Value || nc.Value != rotated.Token() || !client.ValidToken(nc.Value) {
		t.Fatalf("new cookie %+v", nc)
	}
	if nc.MaxAge < 86000 || nc.MaxAge > 86400 {
		t.Fatalf("rotated cookie Max-Age %d", nc.MaxAge)
	}
	var p probe
	if w := serve(m.Require(p.handler()), "GET", "/", old); w.Code != 401 {
		t.Fatalf("old cookie after Rotate: %d", w.Code)
	}
	if w := serve(m.Require(p.handler()), "GET", "/", nc); w.Code != 200 || p.owner != "user3" {
		t.Fatalf("new cookie after Rotate: %d %+v", w.Code, p)
	}
	cart, err := m.c.PGet(context.Background(), nc.Value, "cart")
	if err != nil || string(cart) != "3 items" {
		t.Fatalf("payload after Rotate: %q %v", cart, err)
	}
}

func TestClear(t *testing.T) {
	m := newManager(t, Config{})
	c := login(t, m, "user4", nil)
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		must(t, m.Clear(w, r))
		if _, ok := FromContext(r.Context()); ok {
			t.Error("FromContext still has a session after Clear")
		}
	}))
	w := serve(h, "POST", "/logout", c)
	sc := sessionCookie(t, w, "session")
	if sc == nil || sc.MaxAge >= 0 || sc.Value != "" || !sc.Expires.Before(time.Now()) {
		t.Fatalf("cookie not expired: %+v", sc)
	}
	if _, err := m.c.Info(context.Background(), c.Value); !errors.Is(err, client.ErrNoSession) {
		t.Fatalf("session after Clear: %v", err)
	}
	// Clearing without a session still expires the cookie and is not an error.
	w = serve(h, "POST", "/logout", c)
	if sc := sessionCookie(t, w, "session"); sc == nil || sc.MaxAge >= 0 {
		t.Fatalf("second Clear: %+v", sc)
	}
}

func TestClearEverywhere(t *testing.T) {
	m := newManager(t, Config{})
	mine := []*http.Cookie{login(t, m, "alice", nil), login(t, m, "alice", nil), login(t, m, "alice", nil)}
	bob := login(t, m, "bob", nil)
	var ended int
	h := m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		ended, err = m.ClearEverywhere(w, r)
		must(t, err)
	}))
	w := serve(h, "POST", "/logout-everywhere", mine[1])
	if ended != 3 {
		t.Fatalf("ended %d, want 3", ended)
	}
	if sc := sessionCookie(t, w, "session"); sc == nil || sc.MaxAge >= 0 {
		t.Fatalf("cookie not expired: %+v", sc)
	}
	var p probe
	for i, c := range mine {
		if w := serve(m.Require(p.handler()), "GET", "/", c); w.Code != 401 {
			t.Fatalf("alice's session %d survived: %d", i, w.Code)
		}
	}
	if w := serve(m.Require(p.handler()), "GET", "/", bob); w.Code != 200 {
		t.Fatalf("bob's session was ended: %d", w.Code)
	}
}

func TestExtend(t *testing.T) {
	m := newManager(t, Config{TTL: time.Hour})
	c := login(t, m, "u", nil)
	h := m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		must(t, m.Extend(w, r, 5*time.Hour))
	}))
	sc := sessionCookie(t, serve(h, "POST", "/", c), "session")
	if sc == nil || sc.Value != c.Value || sc.MaxAge != 18000 {
		t.Fatalf("extended cookie %+v", sc)
	}
	ttl, err := m.c.TTL(context.Background(), c.Value)
	must(t, err)
	if ttl <= 4*time.Hour+59*time.Minute {
		t.Fatalf("TTL after Extend: %v", ttl)
	}
}

// Rotate, Extend and ClearEverywhere need a session.
func TestNoSessionErrors(t *testing.T) {
	m := newManager(t, Config{})
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := m.Rotate(w, r)
		if !errors.Is(err, ErrNoSession) || !errors.Is(err, client.ErrNoSession) {
			t.Errorf("Rotate: %v", err)
		}
		if err := m.Extend(w, r, 0); !errors.Is(err, ErrNoSession) {
			t.Errorf("Extend: %v", err)
		}
		if _, err := m.ClearEverywhere(w, r); !errors.Is(err, ErrNoSession) {
			t.Errorf("ClearEverywhere: %v", err)
		}
	}))
	serve(h, "POST", "/")
	// Without the middleware there is no session either.
	w := httptestRecorder()
	if _, err := m.Rotate(w, newRequest()); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Rotate outside the middleware: %v", err)
	}
}

// A session that ended behind the request's back is forgotten by Rotate.
func TestRotateOfEndedSession(t *testing.T) {
	m := newManager(t, Config{})
	c := login(t, m, "u", nil)
	h := m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		must(t, m.c.End(r.Context(), c.Value))
		if _, err := m.Rotate(w, r); !errors.Is(err, client.ErrNoSession) {
			t.Errorf("Rotate: %v", err)
		}
		if _, ok := FromContext(r.Context()); ok {
			t.Error("the ended session is still in the context")
		}
	}))
	w := serve(h, "POST", "/", c)
	if sc := sessionCookie(t, w, "session"); sc == nil || sc.MaxAge >= 0 {
		t.Fatalf("cookie not expired: %+v", sc)
	}
}

// Issuing on a request that has a session ends the old one (session fixation), and the
// response carries only the new cookie.
func TestIssueReplacesSession(t *testing.T) {
	m := newManager(t, Config{})
	old := login(t, m, "anon-cart", nil)
	var s *Session
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		s, err = m.Issue(w, r, "user5", nil)
		must(t, err)
		if cur, _ := FromContext(r.Context()); cur != s {
			t.Error("FromContext does not return the issued session")
		}
	}))
	w := serve(h, "POST", "/login", old)
	if sc := sessionCookie(t, w, "session"); sc == nil || sc.Value != s.Token() {
		t.Fatalf("cookie %+v", sc)
	}
	if _, err := m.c.Info(context.Background(), old.Value); !errors.Is(err, client.ErrNoSession) {
		t.Fatalf("old session after login: %v", err)
	}
	// A stale cookie expired by the middleware and a new one issued: one header.
	w = serve(h, "POST", "/login", &http.Cookie{Name: "session", Value: "junk"})
	if sc := sessionCookie(t, w, "session"); sc == nil || !client.ValidToken(sc.Value) || sc.MaxAge <= 0 {
		t.Fatalf("cookie after a stale one %+v", sc)
	}
}

func TestIssueLimits(t *testing.T) {
	m := newManager(t, Config{MaxSessions: 1, Idle: 5 * time.Minute})
	login(t, m, "u", nil)
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.Issue(w, r, "u", nil); !errors.Is(err, client.ErrOwnerLimit) {
			t.Errorf("second login: %v", err)
		}
		s, err := m.Issue(w, r, "u", &IssueOptions{MaxSessions: 1, Evict: true, Idle: -1, TTL: time.Minute})
		must(t, err)
		info, err := m.c.Info(r.Context(), s.Token())
		must(t, err)
		if info.IdleTimeout != 0 || info.TTL > time.Minute {
			t.Errorf("IssueOptions not applied: %+v", info)
		}
		list, err := m.c.List(r.Context(), "u")
		must(t, err)
		if len(list) != 1 {
			t.Errorf("%d sessions after evicting", len(list))
		}
		// Anonymous sessions have no owner to cap.
		if _, err := m.Issue(w, r, "", nil); err != nil {
			t.Errorf("anonymous Issue: %v", err)
		}
	}))
	serve(h, "POST", "/login")
}

// Require inside Middleware reuses the loaded session: one INFO per request.
func TestNestedLoadsOnce(t *testing.T) {
	m := newManager(t, Config{})
	c := login(t, m, "u", nil)
	ctx := context.Background()
	before, err := m.c.Info(ctx, c.Value)
	must(t, err)
	var p probe
	if w := serve(m.Middleware(m.Require(p.handler())), "GET", "/", c); w.Code != 200 || !p.has {
		t.Fatalf("status %d", w.Code)
	}
	after, err := m.c.Info(ctx, c.Value)
	must(t, err)
	// One read for the request and one for this Info call.
	if n := after.Reads - before.Reads; n != 2 {
		t.Fatalf("%d reads, want 2", n)
	}
}
