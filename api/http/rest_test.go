package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiongate/sessiongate/disk"
	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wal"
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

// num reads a JSON number from a decoded body.
func num(body map[string]any, key string) int64 {
	f, _ := body[key].(float64)
	return int64(f)
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

// The routes answer as rest-sessions does: a session starts with r 1 and w 1, a get answers
// r before its own read, a set counts a write and no read, and ttl is the setting.
func TestRESTSessionsRoutes(t *testing.T) {
	ts := newTestServer(t)
	u := ts.URL + "/mywebapp"
	code, body := request(t, "PUT", u+"/create/user123?ip=192.168.99.22&ttl=86400", "")
	tok, _ := body["token"].(string)
	if code != 200 || len(tok) != 84 {
		t.Fatalf("create: %d %v", code, body)
	}
	for want := int64(1); want <= 3; want++ {
		code, body = request(t, "GET", u+"/get/"+tok, "")
		if code != 200 || body["id"] != "user123" || body["ip"] != "192.168.99.22" || num(body, "ttl") != 86400 ||
			num(body, "r") != want || num(body, "w") != 1 || body["no_resave"] != nil {
			t.Fatalf("get %d: %d %v", want, code, body)
		}
	}
	code, body = request(t, "POST", u+"/set/"+tok, `{"name":"Peter Smith","unread_msgs":12,"age":46}`)
	d, _ := body["d"].(map[string]any)
	if code != 200 || d["name"] != "Peter Smith" || d["unread_msgs"] != 12.0 || num(body, "w") != 2 || num(body, "r") != 4 {
		t.Fatalf("set: %d %v", code, body)
	}
	// null removes a key, an absent key stays.
	code, body = request(t, "POST", u+"/set/"+tok, `{"name":"Bruce Dickinson","unread_msgs":null,"job":"making gold records"}`)
	d, _ = body["d"].(map[string]any)
	if code != 200 || d["name"] != "Bruce Dickinson" || d["age"] != 46.0 || d["job"] != "making gold records" || num(body, "w") != 3 {
		t.Fatalf("merge: %d %v", code, body)
	}
	if _, ok := d["unread_msgs"]; ok {
		t.Fatalf("null did not delete: %v", d)
	}
	code, body = request(t, "GET", u+"/get/"+tok, "")
	if d, _ = body["d"].(map[string]any); code != 200 || len(d) != 3 || num(body, "r") != 4 || num(body, "w") != 3 {
		t.Fatalf("get after sets: %d %v", code, body)
	}
	// Removing every key leaves no d at all.
	code, body = request(t, "POST", u+"/set/"+tok, `{"name":null,"age":null,"job":null}`)
	if code != 200 || body["d"] != nil {
		t.Fatalf("emptied: %d %v", code, body)
	}
	// create takes an initial d, nulls dropped.
	_, body = request(t, "PUT", u+"/create/user123?ip=10.0.2.45", `{"cart":3,"gone":null}`)
	code, body = request(t, "GET", u+"/get/"+body["token"].(string), "")
	if d, _ = body["d"].(map[string]any); code != 200 || d["cart"] != 3.0 || len(d) != 1 || num(body, "ttl") != 7200 {
		t.Fatalf("create with d: %d %v", code, body)
	}
	// ttl is read as redis-sessions reads it, with JavaScript's parseInt.
	_, body = request(t, "PUT", u+"/create/user456?ip=10.0.2.46&ttl=3600.0", "")
	if code, body = request(t, "GET", u+"/get/"+body["token"].(string), ""); code != 200 || num(body, "ttl") != 3600 {
		t.Fatalf("ttl=3600.0: %d %v", code, body)
	}
	if code, body = request(t, "GET", u+"/activity?dt=600", ""); code != 200 || body["activity"] != 2.0 {
		t.Fatalf("activity: %d %v", code, body)
	}
	if code, body = request(t, "GET", u+"/soid/user123", ""); code != 200 || len(body["sessions"].([]any)) != 2 {
		t.Fatalf("soid: %d %v", code, body)
	}
	if code, body = request(t, "GET", u+"/soapp?dt=600", ""); code != 200 || len(body["sessions"].([]any)) != 3 {
		t.Fatalf("soapp: %d %v", code, body)
	}
	// Listing is not an access: the first session still shows r 5 on its next get.
	if code, body = request(t, "GET", u+"/get/"+tok, ""); num(body, "r") != 5 {
		t.Fatalf("listing counted reads: %d %v", code, body)
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

// Bad input gets redis-sessions' own error texts with a 4xx status, and changes nothing.
func TestRESTErrors(t *testing.T) {
	ts := newTestServer(t)
	u := ts.URL + "/mywebapp"
	_, body := request(t, "PUT", u+"/create/u1?ip=10.0.0.1", "")
	tok := body["token"].(string)
	tampered := tok[:83] + "0" // the signature's last digit changed
	if tok[83] == '0' {
		tampered = tok[:83] + "1"
	}
	long := strings.Repeat("x", 129)
	cases := []struct {
		method, url, body string
		want              int
		text              string
	}{
		{"PUT", u + "/create/u1", "", 400, "No ip supplied"},
		{"PUT", u + "/create/u1?ip=", "", 400, "No ip supplied"},
		{"PUT", u + "/create/u1?ip=" + strings.Repeat("1", 40), "", 400, "Invalid ip format"},
		{"PUT", u + "/create/" + long + "?ip=1.2.3.4", "", 400, "Invalid id format"},
		{"PUT", u + "/create/u1?ip=1.2.3.4&ttl=abc", "", 400, "ttl must be a positive integer >= 10"},
		{"PUT", u + "/create/u1?ip=1.2.3.4&ttl=-5", "", 400, "ttl must be a positive integer >= 10"},
		{"PUT", u + "/create/u1?ip=1.2.3.4&ttl=9", "", 400, "ttl must be a positive integer >= 10"},
		{"PUT", u + "/create/u1?ip=1.2.3.4&ttl=9.9", "", 400, "ttl must be a positive integer >= 10"},
		{"PUT", u + "/create/u1?ip=1.2.3.4&ttl=99999999999999999999", "", 400, ""},
		{"PUT", u + "/create/u1?ip=1.2.3.4", `[1,2]`, 400, "d must be an object"},
		{"PUT", u + "/create/u1?ip=1.2.3.4", `{"a":[1]}`, 400, "d.a has a forbidden type. Only strings, numbers, boolean and null are allowed."},
		{"POST", u + "/set/" + tok, "", 400, "No d supplied"},
		{"POST", u + "/set/" + tok, "null", 400, "No d supplied"},
		{"POST", u + "/set/" + tok, "{}", 400, "d must containt at least one key."},
		{"POST", u + "/set/" + tok, "not json", 400, "d must be an object"},
		{"POST", u + "/set/" + tok, `"text"`, 400, "d must be an object"},
		{"POST", u + "/set/" + tok, `{"ok":1,"obj":{"x":1},"arr":[1]}`, 400, "d.obj has a forbidden type. Only strings, numbers, boolean and null are allowed."},
		{"POST", u + "/set/" + tok, `{"":1}`, 400, ""},
		{"GET", u + "/activity", "", 400, "ttl must be a positive integer >= 10"},
		{"GET", u + "/activity?dt=5", "", 400, "ttl must be a positive integer >= 10"},
		{"GET", u + "/soapp?dt=x", "", 400, "ttl must be a positive integer >= 10"},
		{"GET", u + "/soid/" + long, "", 400, "Invalid id format"},
		{"GET", ts.URL + "/otherapp/get/" + tok, "", 404, ""},
		{"GET", u + "/get/garbage", "", 404, ""},
		{"GET", u + "/get/" + tampered, "", 404, ""},
		{"POST", u + "/set/" + tampered, `{"a":1}`, 404, ""},
	}
	for _, c := range cases {
		code, body := request(t, c.method, c.url, c.body)
		msg, _ := body["error"].(string)
		if code != c.want || msg == "" || c.text != "" && msg != c.text {
			t.Errorf("%s %s %s: %d %q, want %d %q", c.method, c.url, c.body, code, msg, c.want, c.text)
		}
	}
	// The body is byte for byte rest-sessions' (no HTML escaping of '>').
	req, _ := http.NewRequest("PUT", u+"/create/u1?ip=1.2.3.4&ttl=9", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), `{"error":"ttl must be a positive integer >= 10"}`) {
		t.Errorf("error body %s", raw)
	}
	// Nothing changed: the session is intact with no data and one write.
	if code, body := request(t, "GET", u+"/get/"+tok, ""); code != 200 || body["d"] != nil || num(body, "w") != 1 {
		t.Fatalf("bad input changed the session: %v", body)
	}
	// Unknown and gone sessions are 404 on get and set alike.
	request(t, "DELETE", u+"/kill/"+tok, "")
	for _, m := range []string{"GET /get/", "POST /set/"} {
		method, path, _ := strings.Cut(m, " ")
		if code, body := request(t, method, u+path+tok, `{"a":1}`); code != 404 || body["error"] == nil {
			t.Errorf("%s of an ended session: %d %v", m, code, body)
		}
	}
}

// A node with a data directory reports it; a node without reports none of it.
func TestDiskMetrics(t *testing.T) {
	n, err := node.Create(node.Config{Disk: &disk.Config{Dir: t.TempDir(), Sync: wal.SyncAlways}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	if _, err := n.Do(context.Background(), &sessions.Command{Kind: sessions.KindStart, Tenant: sessions.TenantOf([]byte("k")), TTL: 60}); err != nil {
		t.Fatal(err)
	}
	scrape := func(m *Metrics) string {
		ts := httptest.NewServer(New(Config{}, n, m, m.Instrument(n)).Handler())
		defer ts.Close()
		resp, err := http.Get(ts.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return string(raw)
	}
	got := scrape(NewMetrics(n))
	for _, want := range []string{"sessiongate_disk_log_records_total ", "sessiongate_disk_fsyncs_total ", "sessiongate_disk_writes_refused 0"} {
		if !strings.Contains(got, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(got, "sessiongate_disk_log_records_total 0") || strings.Contains(got, "sessiongate_disk_fsyncs_total 0") {
		t.Error("a write left no record or fsync in the metrics")
	}
	if strings.Contains(scrape(NewMetrics(newMemoryNode(t))), "sessiongate_disk_") {
		t.Error("a memory-only node reports data directory metrics")
	}
}

func newMemoryNode(t *testing.T) *node.Node {
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	return n
}

func TestMetricsAndHealth(t *testing.T) {
	ts := newTestServer(t)
	request(t, "PUT", ts.URL+"/mywebapp/create/u1?ip=10.0.0.1", "")
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
