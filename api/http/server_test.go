package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
)

// serveNode serves a new node's HTTP front end on real listeners: the returned base URLs
// are the REST listener's and, when cfg.SeparateOps, the operator listener's.
func serveNode(t *testing.T, cfg Config) (app, ops string) {
	t.Helper()
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	if cfg.Apps == nil {
		cfg.Apps = map[string][]byte{"mywebapp": []byte("secret")}
	}
	m := NewMetrics(n)
	s := New(cfg, n, m, m.Instrument(n))
	listen := func(serve func(net.Listener) error) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go serve(ln)
		return "http://" + ln.Addr().String()
	}
	app = listen(s.Serve)
	if cfg.SeparateOps {
		ops = listen(s.ServeOps)
	}
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	return app, ops
}

func status(t *testing.T, method, url, auth string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// An app with an access token refuses requests without it, whatever the route; other apps
// stay open.
func TestAccessTokens(t *testing.T) {
	app, _ := serveNode(t, Config{
		Apps:   map[string][]byte{"mywebapp": []byte("secret"), "open": []byte("other")},
		Tokens: map[string]string{"mywebapp": "t0ken"},
	})
	for _, auth := range []string{"", "Bearer", "Bearer wrong", "Bearer t0ke", "Basic t0ken", "t0ken"} {
		for _, route := range []string{"PUT /mywebapp/create/u1?ip=1.2.3.4", "GET /mywebapp/soid/u1", "DELETE /mywebapp/killall"} {
			method, path, _ := strings.Cut(route, " ")
			req, _ := http.NewRequest(method, app+path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s with %q: %d %q, want 401 with a Bearer challenge", route, auth, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
	if code := status(t, "PUT", app+"/mywebapp/create/u1?ip=1.2.3.4", "Bearer t0ken"); code != 200 {
		t.Errorf("with the token: %d", code)
	}
	if code := status(t, "PUT", app+"/open/create/u1?ip=1.2.3.4", ""); code != 200 {
		t.Errorf("an app without a token: %d", code)
	}
}

// With SeparateOps the REST listener serves no operator route and the operator listener no
// REST route; without it one listener serves both (TestMetricsAndHealth).
func TestOperatorRoutesOnTheirOwnListener(t *testing.T) {
	app, ops := serveNode(t, Config{SeparateOps: true})
	opsRoutes := []string{"/metrics", "/healthz", "/readyz", "/cluster.json", "/", "/static/app.js"}
	for _, path := range opsRoutes {
		if code := status(t, "GET", app+path, ""); code != 404 {
			t.Errorf("REST listener serves %s: %d", path, code)
		}
		if code := status(t, "GET", ops+path, ""); code != 200 {
			t.Errorf("operator listener, %s: %d", path, code)
		}
	}
	if code := status(t, "PUT", app+"/mywebapp/create/u1?ip=1.2.3.4", ""); code != 200 {
		t.Errorf("REST listener, create: %d", code)
	}
	if code := status(t, "GET", app+"/ping", ""); code != 200 {
		t.Errorf("REST listener, ping: %d", code)
	}
	if code := status(t, "PUT", ops+"/mywebapp/create/u1?ip=1.2.3.4", ""); code == 200 {
		t.Errorf("operator listener serves REST routes")
	}
}

// A request body sent a byte every two seconds is cut off once the read timeout is up.
func TestTrickledBodyIsCutOff(t *testing.T) {
	app, _ := serveNode(t, Config{ReadTimeout: time.Second})
	c, err := net.Dial("tcp", strings.TrimPrefix(app, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = io.WriteString(c, "PUT /mywebapp/create/u1?ip=1.2.3.4 HTTP/1.1\r\nHost: x\r\n"+
		"Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range 20 {
			time.Sleep(2 * time.Second)
			if _, err := io.WriteString(c, " "); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(20 * time.Second)) // bounds the test, not the server
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a trickled body: %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("trickled body: %d, want 408", resp.StatusCode)
	}
}

// Connections past the cap are answered 503 and closed, and a freed slot serves again.
func TestConnectionCap(t *testing.T) {
	app, _ := serveNode(t, Config{MaxConns: 2})
	addr := strings.TrimPrefix(app, "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second)) // bounds the test, not the server
		return c
	}
	ping := func(c net.Conn) (int, error) {
		if _, err := io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	first, second := dial(), dial()
	defer second.Close()
	if code, err := ping(first); code != 200 {
		t.Fatalf("first connection: %d %v", code, err)
	}
	third := dial()
	defer third.Close()
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("connection past the cap: %v %v, want a 503", resp, err)
	}
	if code, err := ping(second); code != 200 {
		t.Fatalf("second connection: %d %v", code, err)
	}
	first.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dial()
		code, _ := ping(c)
		c.Close()
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed connection's slot was never freed: %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A node past --maxmemory refuses REST writes that would grow it with 507, and still ends
// sessions.
func TestRESTPastMaxMemory(t *testing.T) {
	n, err := node.Create(node.Config{Store: sessions.Config{MaxMemory: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	g := newGateway(t, n, false)
	tok := slidingSession(t, n, "frank", 60) // past the limit from its first byte on
	code, body := request(t, "POST", g.url+"/set/"+tok, `{"cart":1}`)
	if msg, _ := body["error"].(string); code != http.StatusInsufficientStorage || msg == "" {
		t.Fatalf("set past maxmemory: %d %v", code, body)
	}
	if code, body := request(t, "DELETE", g.url+"/kill/"+tok, ""); code != 200 || num(body, "kill") != 1 {
		t.Fatalf("kill past maxmemory: %d %v", code, body)
	}
}

// A create whose d the store refuses (past the step cap) leaves no session behind.
func TestRefusedCreateLeavesNoSession(t *testing.T) {
	g := newNodeGateway(t, false)
	var b strings.Builder
	b.WriteString("{")
	for i := range sessions.MaxUpdateSteps + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":1`, i)
	}
	b.WriteString("}")
	if code, body := request(t, "PUT", g.url+"/create/gina?ip=10.0.0.7", b.String()); code != 400 {
		t.Fatalf("create past the step cap: %d %v", code, body)
	}
	if code, body := request(t, "GET", g.url+"/soid/gina", ""); code != 200 || len(body["sessions"].([]any)) != 0 {
		t.Fatalf("a refused create left a session: %d %v", code, body)
	}
}
