package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/client"
	"github.com/sessiongate/sessiongate/client/sgtest"
	"github.com/sessiongate/sessiongate/httpsession"
)

var nodeAddr, noNodeReason string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "webapp-test")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	bin, err := sgtest.Build(ctx, dir)
	cancel()
	var node *sgtest.Node
	if err == nil {
		node, err = sgtest.Start(context.Background(), bin)
	}
	if err != nil {
		noNodeReason = fmt.Sprintf("no sessiongated node: %v", err)
		fmt.Fprintln(os.Stderr, "webapp: skipping tests against a real node:", noNodeReason)
	} else {
		nodeAddr = node.Addr
	}
	code := m.Run()
	if node != nil {
		node.Close()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// startApp serves the app over httptest with a tenant of the test's own.
func startApp(t *testing.T) *httptest.Server {
	t.Helper()
	if nodeAddr == "" {
		t.Skip(noNodeReason)
	}
	store, err := client.New(client.Config{Addrs: []string{nodeAddr}, SignKey: []byte("webapp-" + t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	// Insecure: httptest serves plain HTTP, over which a browser would not send a Secure cookie.
	sessions, err := httpsession.New(httpsession.Config{Client: store, Cookie: httpsession.Cookie{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newApp(sessions, store))
	t.Cleanup(srv.Close)
	return srv
}

// browser is one user agent with its own cookie jar; it does not follow redirects.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: srv.URL, hc: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	res, err := b.hc.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	res, err := b.hc.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func (b *browser) login(user string) {
	b.t.Helper()
	if code, _ := b.post("/login", url.Values{"user": {user}, "password": {"whatever"}}); code != http.StatusSeeOther {
		b.t.Fatalf("login as %s: %d", user, code)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token off the private page.
func (b *browser) csrf() string {
	b.t.Helper()
	code, body := b.get("/private")
	m := csrfField.FindStringSubmatch(body)
	if code != 200 || m == nil {
		b.t.Fatalf("private page: %d, no CSRF field", code)
	}
	return m[1]
}

func TestLoginAndPrivatePage(t *testing.T) {
	srv := startApp(t)
	b := newBrowser(t, srv)
	if code, _ := b.get("/private"); code != http.StatusUnauthorized {
		t.Fatalf("private page before login: %d", code)
	}
	if code, _ := b.post("/login", url.Values{"user": {""}}); code != http.StatusBadRequest {
		t.Fatalf("login without a user name: %d", code)
	}
	b.login("alice")
	code, body := b.get("/private")
	if code != 200 || !strings.Contains(body, "Hello, alice") || !strings.Contains(body, "Go-http-client") {
		t.Fatalf("private page: %d\n%s", code, body)
	}
	if _, home := b.get("/"); !strings.Contains(home, "Logged in as <b>alice</b>") {
		t.Fatalf("home page: %s", home)
	}
}

// POSTs that change the session need the session's CSRF token.
func TestCSRF(t *testing.T) {
	srv := startApp(t)
	b := newBrowser(t, srv)
	b.login("mallory-target")
	token := b.csrf()
	for _, path := range []string{"/logout", "/logout-everywhere", "/rotate"} {
		for _, form := range []url.Values{{}, {"csrf": {""}}, {"csrf": {"forged"}}, {"csrf": {token + "x"}}} {
			if code, _ := b.post(path, form); code != http.StatusForbidden {
				t.Fatalf("POST %s with %v: %d, want 403", path, form, code)
			}
		}
	}
	if code, _ := b.get("/private"); code != 200 {
		t.Fatalf("the rejected POSTs ended the session: %d", code)
	}
	// A token from another session does not work either.
	other := newBrowser(t, srv)
	other.login("someone")
	if code, _ := b.post("/logout", url.Values{"csrf": {other.csrf()}}); code != http.StatusForbidden {
		t.Fatalf("another session's token: %d", code)
	}
	if code, _ := b.post("/logout", url.Values{"csrf": {token}}); code != http.StatusSeeOther {
		t.Fatalf("logout with the right token: %d", code)
	}
	if code, _ := b.get("/private"); code != http.StatusUnauthorized {
		t.Fatalf("private page after logout: %d", code)
	}
}

func TestLogoutEverywhere(t *testing.T) {
	srv := startApp(t)
	laptop, phone, carol := newBrowser(t, srv), newBrowser(t, srv), newBrowser(t, srv)
	laptop.login("bob")
	phone.login("bob")
	carol.login("carol")
	if _, body := laptop.get("/private"); strings.Count(body, "<tr><td>") != 2 {
		t.Fatalf("bob's page does not list two devices:\n%s", body)
	}
	code, _ := laptop.post("/logout-everywhere", url.Values{"csrf": {laptop.csrf()}})
	if code != http.StatusSeeOther {
		t.Fatalf("logout everywhere: %d", code)
	}
	for name, b := range map[string]*browser{"laptop": laptop, "phone": phone} {
		if code, _ := b.get("/private"); code != http.StatusUnauthorized {
			t.Fatalf("bob's %s still logged in: %d", name, code)
		}
	}
	if code, _ := carol.get("/private"); code != 200 {
		t.Fatalf("carol was logged out: %d", code)
	}
}

func TestRotate(t *testing.T) {
	srv := startApp(t)
	b := newBrowser(t, srv)
	b.login("dave")
	before := b.csrf()
	u, _ := url.Parse(srv.URL)
	oldCookie := b.hc.Jar.Cookies(u)
	if code, _ := b.post("/rotate", url.Values{"csrf": {before}}); code != http.StatusSeeOther {
		t.Fatalf("rotate: %d", code)
	}
	if after := b.csrf(); after == before {
		t.Fatal("the CSRF token was not renewed with the session token")
	}
	// The cookie from before the rotation is dead.
	stale := newBrowser(t, srv)
	stale.hc.Jar.SetCookies(u, oldCookie)
	if code, _ := stale.get("/private"); code != http.StatusUnauthorized {
		t.Fatalf("pre-rotation cookie: %d", code)
	}
}
