package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func httpJSON(t *testing.T, method, url string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// Every node serves every REST route, and the status page shows every member.
func TestHTTPAcrossCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	c := newCluster(t)
	var web []string
	for i := 0; i < 3; i++ {
		httpAddr := fmt.Sprintf("127.0.0.%d:%d", 10+i, c.port+3)
		c.start(i, "--http-addr", httpAddr, "--http-apps", "mywebapp=s3cret")
		web = append(web, "http://"+httpAddr)
	}
	c.waitMembers(3)
	code, body := httpJSON(t, "PUT", web[0]+"/mywebapp/create/user1?ip=10.1.1.1")
	tok, _ := body["token"].(string)
	if code != 200 || tok == "" {
		t.Fatalf("create via node 0: %d %v", code, body)
	}
	for i, base := range web {
		code, body := httpJSON(t, "GET", base+"/mywebapp/get/"+tok)
		if code != 200 || body["id"] != "user1" {
			t.Fatalf("get via node %d: %d %v", i, code, body)
		}
		code, body = httpJSON(t, "GET", base+"/mywebapp/soid/user1")
		if code != 200 || len(body["sessions"].([]any)) != 1 {
			t.Fatalf("soid via node %d: %d %v", i, code, body)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := httpJSON(t, "GET", web[2]+"/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz never ready: %v", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, body := httpJSON(t, "DELETE", web[1]+"/mywebapp/killsoid/user1"); code != 200 || body["kill"] != 1.0 {
		t.Fatalf("killsoid via node 1: %d %v", code, body)
	}
	statusPage(t, web[1])
}

// statusPage loads the page in headless Chromium, checks it lists all members, and keeps a
// screenshot in docs/.
func statusPage(t *testing.T, base string) {
	browser := ""
	for _, b := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(b); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Log("SKIP status page check: chromium not installed (apt-get install chromium)")
		return
	}
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--virtual-time-budget=4000", "--window-size=1280,900"}
	out, err := exec.Command(browser, append(flags, "--dump-dom", base+"/")...).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	dom := string(out)
	for _, name := range []string{"n0", "n1", "n2"} {
		if !strings.Contains(dom, `<td>`+name+`</td>`) {
			t.Fatalf("status page does not list member %s:\n%s", name, dom)
		}
	}
	if strings.Count(dom, `class="member"`) != 3 {
		t.Fatalf("status page lists %d members, want 3", strings.Count(dom, `class="member"`))
	}
	shot := filepath.Join(t.TempDir(), "status.png")
	if err := exec.Command(browser, append(flags, "--screenshot="+shot, base+"/")...).Run(); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 1000 {
		t.Fatalf("no screenshot: %v", err)
	}
	if dst := os.Getenv("SESSIONGATE_SCREENSHOT"); dst != "" {
		b, _ := os.ReadFile(shot)
		os.WriteFile(dst, b, 0o644)
	}
}
