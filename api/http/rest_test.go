package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiongate/sessiongate/node"
)

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	m := NewMetrics(n)
	s := New(Config{Apps: map[string][]byte{"mywebapp": []byte("secret")}}, n, m, m.Instrument(n))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func request(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, url, raw)
		}
	}
	return resp.StatusCode, out
}

func TestRESTSessionsRoutes(t *testing.T) {
	ts := newTestServer(t)
	u := ts.URL + "/mywebapp"
	code, body := request(t, "PUT", u+"/create/user123?ip=192.168.99.22&ttl=86400", "")
	tok, _ := body["token"].(string)
	if code != 200 || len(tok) != 84 {
		t.Fatalf("create: %d %v", code, body)
	}
	code, body = request(t, "GET", u+"/get/"+tok, "")
	if code != 200 || body["id"] != "user123" || body["ip"] != "192.168.99.22" || body["ttl"] != 86400.0 || body["r"] != 1.0 {
		t.Fatalf("get: %d %v", code, body)
	}
	code, body = request(t, "POST", u+"/set/"+tok, `{"name":"Peter Smith","unread_msgs":12,"age":46}`)
	d, _ := body["d"].(map[string]any)
	if code != 200 || d["name"] != "Peter Smith" || d["unread_msgs"] != 12.0 || body["w"] != 1.0 {
		t.Fatalf("set: %d %v", code, body)
	}
	// null removes a key, an absent key stays.
	code, body = request(t, "POST", u+"/set/"+tok, `{"name":"Bruce Dickinson","unread_msgs":null,"job":"making gold records"}`)
	d, _ = body["d"].(map[string]any)
	if code != 200 || d["name"] != "Bruce Dickinson" || d["age"] != 46.0 || d["job"] != "making gold records" {
		t.Fatalf("merge: %d %v", code, body)
	}
	if _, ok := d["unread_msgs"]; ok {
		t.Fatalf("null did not delete: %v", d)
	}
	request(t, "PUT", u+"/create/user123?ip=10.0.2.45", "")
	request(t, "PUT", u+"/create/user456", "")
	if code, body = request(t, "GET", u+"/activity?dt=600", ""); code != 200 || body["activity"] != 2.0 {
		t.Fatalf("activity: %d %v", code, body)
	}
	if code, body = request(t, "GET", u+"/soid/user123", ""); code != 200 || len(body["sessions"].([]any)) != 2 {
		t.Fatalf("soid: %d %v", code, body)
	}
	if code, body = request(t, "GET", u+"/soapp?dt=600", ""); code != 200 || len(body["sessions"].([]any)) != 3 {
		t.Fatalf("soapp: %d %v", code, body)
	}
	if code, body = request(t, "DELETE", u+"/kill/"+tok, ""); code != 200 || body["kill"] != 1.0 {
		t.Fatalf("kill: %d %v", code, body)
	}
	if code, body = request(t, "DELETE", u+"/kill/"+tok, ""); code != 200 || body["kill"] != 0.0 {
		t.Fatalf("kill again: %d %v", code, body)
	}
	if code, body = request(t, "DELETE", u+"/killsoid/user123", ""); code != 200 || body["kill"] != 1.0 {
		t.Fatalf("killsoid: %d %v", code, body)
	}
	if code, body = request(t, "DELETE", u+"/killall", ""); code != 200 || body["kill"] != 1.0 {
		t.Fatalf("killall: %d %v", code, body)
	}
	resp, _ := http.Get(ts.URL + "/ping")
	raw, _ := io.ReadAll(resp.Body)
	if string(raw) != "PONG" {
		t.Fatalf("ping: %q", raw)
	}
}

func TestRESTErrors(t *testing.T) {
	ts := newTestServer(t)
	u := ts.URL + "/mywebapp"
	_, body := request(t, "PUT", u+"/create/u1", "")
	tok := body["token"].(string)
	tampered := tok[:83] + "0" // the signature's last digit changed
	if tok[83] == '0' {
		tampered = tok[:83] + "1"
	}
	cases := []struct {
		method, url, body string
		want              int
	}{
		{"GET", ts.URL + "/otherapp/get/" + tok, "", 404},
		{"GET", u + "/get/garbage", "", 404},
		{"GET", u + "/get/" + tampered, "", 404},
		{"PUT", u + "/create/u1?ttl=abc", "", 400},
		{"PUT", u + "/create/u1?ttl=-5", "", 400},
		{"POST", u + "/set/" + tok, "not json", 400},
		{"POST", u + "/set/" + tok, `{"":1}`, 400},
		{"GET", u + "/activity", "", 400},
		{"GET", u + "/soapp?dt=x", "", 400},
	}
	for _, c := range cases {
		code, body := request(t, c.method, c.url, c.body)
		if code != c.want || body["error"] == nil {
			t.Errorf("%s %s: %d %v, want %d with an error body", c.method, c.url, code, body, c.want)
		}
	}
	// Nothing changed: the session is intact with no data.
	if code, body := request(t, "GET", u+"/get/"+tok, ""); code != 200 || body["d"] != nil {
		t.Fatalf("bad input changed the session: %v", body)
	}
}

func TestMetricsAndHealth(t *testing.T) {
	ts := newTestServer(t)
	request(t, "PUT", ts.URL+"/mywebapp/create/u1", "")
	request(t, "GET", ts.URL+"/mywebapp/get/v1.0000000000000000.0000000000000000000000000000000000000000000000000000000000000000", "")
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`sessiongate_commands_total{command="start"} 1`,
		`sessiongate_command_duration_seconds_bucket{command="start"`,
		`sessiongate_sessions 1`,
		`sessiongate_members{state="alive"} 1`,
		`sessiongate_forwarded_total 0`,
		`sessiongate_copy_reads_total 0`,
		`sessiongate_carried_ops_total 0`,
		`sessiongate_grouped_writes_total 0`,
		`sessiongate_inline_writes_total 0`,
		`sessiongate_inline_waits_total 0`,
		`sessiongate_partitions_under_replicated 0`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/", "/static/app.js", "/cluster.json"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", path, resp.StatusCode, err)
		}
	}
}
