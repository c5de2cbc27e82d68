package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
)

// A REST set whose body has 200k keys becomes a 200k-step PUPDATE: it is refused by the step
// cap with a 400 that says so, and the session keeps its data.
func TestRESTSetPastTheStepCap(t *testing.T) {
	ts := newTestServer(t)
	u := ts.URL + "/mywebapp"
	code, body := request(t, "PUT", u+"/create/user1?ip=10.0.0.1", `{"kept":1}`)
	if code != 200 {
		t.Fatalf("create: %d %v", code, body)
	}
	tok, _ := body["token"].(string)
	var b strings.Builder
	b.WriteString("{")
	for i := range 200_000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%06d":1`, i)
	}
	b.WriteString("}")
	code, body = request(t, "POST", u+"/set/"+tok, b.String())
	if msg, _ := body["error"].(string); code != 400 || !strings.Contains(msg, fmt.Sprint(sessions.MaxUpdateSteps)) {
		t.Fatalf("200k-key set: %d %v, want 400 naming the cap of %d steps", code, body, sessions.MaxUpdateSteps)
	}
	code, body = request(t, "GET", u+"/get/"+tok, "")
	d, _ := body["d"].(map[string]any)
	if code != 200 || len(d) != 1 || d["kept"] != float64(1) {
		t.Fatalf("after a refused set: %d %v, want d {kept: 1}", code, body)
	}
}

// /metrics and the status page's feed show the store's used memory against --maxmemory.
func TestMaxMemoryShown(t *testing.T) {
	n, err := node.Create(node.Config{Store: sessions.Config{MaxMemory: 100 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	m := NewMetrics(n)
	ts := httptest.NewServer(New(Config{Apps: map[string][]byte{"app": []byte("k")}}, n, m, m.Instrument(n)).Handler())
	t.Cleanup(ts.Close)
	if code, body := request(t, "PUT", ts.URL+"/app/create/u1?ip=10.0.0.1", ""); code != 200 {
		t.Fatalf("create: %d %v", code, body)
	}
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	used := n.Store().Stats().UsedMemory
	for _, want := range []string{"sessiongate_maxmemory_bytes 1.048576e+08", fmt.Sprintf("sessiongate_used_memory_bytes %d", used)} {
		if used == 0 || !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	resp, err = http.Get(ts.URL + "/cluster.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var feed struct {
		Info []struct {
			Name   string            `json:"name"`
			Fields map[string]string `json:"fields"`
		} `json:"info"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&feed); err != nil {
		t.Fatal(err)
	}
	for _, sec := range feed.Info {
		if sec.Name == "memory" {
			if sec.Fields["maxmemory_human"] != "100.00M" || sec.Fields["used_memory"] != fmt.Sprint(used) {
				t.Fatalf("memory section %v", sec.Fields)
			}
			return
		}
	}
	t.Fatalf("no memory section in the status page's feed: %+v", feed.Info)
}
