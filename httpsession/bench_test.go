package httpsession

import (
	"net/http"
	"testing"
)

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
}

// BenchmarkMiddlewareWithSession is one request with a valid session cookie: one INFO
// round trip to a node on loopback.
func BenchmarkMiddlewareWithSession(b *testing.B) {
	m := newManager(b, Config{})
	c := login(b, m, "bench", nil)
	h := m.Middleware(okHandler())
	b.ReportAllocs()
	for b.Loop() {
		if w := serve(h, "GET", "/", c); w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkMiddlewareGarbageCookie is a request whose cookie is refused without a round trip.
func BenchmarkMiddlewareGarbageCookie(b *testing.B) {
	m := newManager(b, Config{})
	h := m.Middleware(okHandler())
	c := &http.Cookie{Name: "session", Value: "garbage"}
	b.ReportAllocs()
	for b.Loop() {
		serve(h, "GET", "/", c)
	}
}
