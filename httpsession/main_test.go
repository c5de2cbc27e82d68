package httpsession

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/client"
	"github.com/sessiongate/sessiongate/client/sgtest"
)

// nodeAddr is a sessiongated started for this test run, or "" if it would not build or
// start; tests that need it skip then.
var nodeAddr, noNodeReason string

// serverBin is the sessiongated binary built for this test run ("" when nodeAddr is).
var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "httpsession-test")
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
		fmt.Fprintln(os.Stderr, "httpsession: skipping tests against a real node:", noNodeReason)
	} else {
		nodeAddr, serverBin = node.Addr, bin
	}
	code := m.Run()
	if node != nil {
		node.Close()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// newClient returns a client of the test's own tenant on the shared node.
func newClient(t testing.TB) *client.Client {
	t.Helper()
	if nodeAddr == "" {
		t.Skip(noNodeReason)
	}
	c, err := client.New(client.Config{Addrs: []string{nodeAddr}, SignKey: []byte("key-" + t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newManager(t testing.TB, cfg Config) *Manager {
	t.Helper()
	if cfg.Client == nil {
		cfg.Client = newClient(t)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// serve runs h on a request for path carrying the given cookies.
func serve(h http.Handler, method, path string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = "192.0.2.7:40000"
	r.Header.Set("User-Agent", "TestBrowser/1.0")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// sessionCookie returns the response's cookie named name, or nil.
func sessionCookie(t testing.TB, w *httptest.ResponseRecorder, name string) *http.Cookie {
	t.Helper()
	var found *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			if found != nil {
				t.Fatalf("two Set-Cookie headers for %s: %q", name, w.Header().Values("Set-Cookie"))
			}
			found = c
		}
	}
	return found
}

// login issues a session for owner through m and returns its cookie.
func login(t testing.TB, m *Manager, owner string, opts *IssueOptions) *http.Cookie {
	t.Helper()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.Issue(w, r, owner, opts); err != nil {
			t.Errorf("Issue: %v", err)
		}
	}))
	c := sessionCookie(t, serve(h, "POST", "/login"), m.cfg.Cookie.Name)
	if c == nil {
		t.Fatal("Issue set no cookie")
	}
	return c
}

// probe is a handler that reports the session it sees.
type probe struct {
	owner, token string
	has          bool
}

func (p *probe) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := FromContext(r.Context())
		p.has = ok
		if ok {
			p.owner, p.token = s.Owner(), s.Token()
		}
		w.WriteHeader(http.StatusOK)
	})
}

func httptestRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func newRequest() *http.Request { return httptest.NewRequest("GET", "/", nil) }
