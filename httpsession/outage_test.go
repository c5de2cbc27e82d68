package httpsession

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/client"
	"github.com/sessiongate/sessiongate/client/sgtest"
)

// downClient is a client whose only node refuses connections.
func downClient(t *testing.T) *client.Client {
	t.Helper()
	addr, err := sgtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Addrs: []string{addr}, SignKey: []byte("k"), MaxRetries: 1,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var wellFormed = "v1.abcdefghijklmnop." + strings.Repeat("0123456789abcdef", 4)

// A store that cannot answer is a 503, not "no session" (which would log users out) and
// not a 500; requests without a cookie never notice.
func TestOutageIs503(t *testing.T) {
	m, err := New(Config{Client: downClient(t)})
	must(t, err)
	var p probe
	c := &http.Cookie{Name: "session", Value: wellFormed}
	for _, h := range []http.Handler{m.Middleware(p.handler()), m.Require(p.handler())} {
		w := serve(h, "GET", "/", c)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
		}
		if len(w.Header().Values("Set-Cookie")) != 0 {
			t.Fatal("the cookie was touched during an outage")
		}
	}
	if w := serve(m.Middleware(p.handler()), "GET", "/"); w.Code != 200 {
		t.Fatalf("no cookie during an outage: %d", w.Code)
	}
	if w := serve(m.Middleware(p.handler()), "GET", "/", &http.Cookie{Name: "session", Value: "junk"}); w.Code != 200 {
		t.Fatalf("a garbage cookie during an outage: %d", w.Code)
	}
}

func TestCustomErrorHandler(t *testing.T) {
	var got error
	m, err := New(Config{Client: downClient(t), ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	}, Unauthorized: http.RedirectHandler("/login", http.StatusSeeOther)})
	must(t, err)
	var p probe
	w := serve(m.Require(p.handler()), "GET", "/", &http.Cookie{Name: "session", Value: wellFormed})
	if w.Code != http.StatusTeapot || !errors.Is(got, client.ErrTryAgain) {
		t.Fatalf("status %d, error %v", w.Code, got)
	}
	// The Unauthorized handler answers requests without a session.
	if w := serve(m.Require(p.handler()), "GET", "/"); w.Code != http.StatusSeeOther {
		t.Fatalf("Unauthorized: %d", w.Code)
	}
}
