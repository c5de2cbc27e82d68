package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
)

func TestRESTFlagsAndHelp(t *testing.T) {
	o, err := parseFlags([]string{"--ops-addr", "127.0.0.1:9090", "--http-max-conns", "50", "--http-read-timeout", "3s"}, io.Discard)
	if err != nil || o.rest.opsAddr != "127.0.0.1:9090" || o.rest.maxConns != 50 || o.rest.readTimeout.Seconds() != 3 {
		t.Fatalf("flags: %+v %v", o.rest, err)
	}
	var out bytes.Buffer
	if err := run([]string{"--help"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--ops-addr", "SESSIONGATE_OPS_ADDR", "--http-tokens-file", "SESSIONGATE_HTTP_TOKENS",
		"--http-max-conns", "--http-read-timeout"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %s", want)
		}
	}
}

// Tokens come from a file (comments and blank lines allowed) and the environment; each must
// name a known app once, and a bad entry never shows its secret in the error.
func TestHTTPTokens(t *testing.T) {
	apps := map[string][]byte{"web": []byte("k1"), "api": []byte("k2")}
	file := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(file, []byte("# access tokens\nweb = s3cret-web\n\n"), 0o600)
	t.Setenv(tokensEnv, "api=s3cret-api")
	cfg, err := (&restFlags{tokensFile: file, maxConns: 1, readTimeout: 1}).config(apps)
	if err != nil || len(cfg.Tokens) != 2 || cfg.Tokens["web"] != "s3cret-web" || cfg.Tokens["api"] != "s3cret-api" {
		t.Fatalf("tokens: %v %v", cfg.Tokens, err)
	}
	for name, c := range map[string]struct{ file, env string }{
		"unknown app":       {"other=tok\n", ""},
		"twice":             {"web=a\n", "web=b"},
		"not app=token":     {"s3cret-alone\n", ""},
		"empty token":       {"web=\n", ""},
		"env, unknown app":  {"", "other=s3cret"},
		"env, not a pair":   {"", "s3cret"},
		"no such file":      {"-", ""},
		"file then env dup": {"api=x\n", "api=y"},
	} {
		t.Setenv(tokensEnv, c.env)
		f := &restFlags{maxConns: 1, readTimeout: 1}
		if c.file == "-" {
			f.tokensFile = filepath.Join(t.TempDir(), "missing")
		} else if c.file != "" {
			f.tokensFile = filepath.Join(t.TempDir(), "tokens")
			os.WriteFile(f.tokensFile, []byte(c.file), 0o600)
		}
		_, err := f.config(apps)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v", name, err)
		}
	}
	t.Setenv(tokensEnv, "")
	open := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(open, []byte("web=s3cret\n"), 0o644)
	if _, err := (&restFlags{tokensFile: open, maxConns: 1, readTimeout: 1}).config(apps); err == nil {
		t.Errorf("a tokens file others can read was accepted")
	}
	for _, f := range []*restFlags{{maxConns: 0, readTimeout: 1}, {maxConns: 1, readTimeout: 0}} {
		if _, err := f.config(apps); err == nil {
			t.Errorf("%+v accepted", f)
		}
	}
}

// startHTTP serves REST and the operator routes apart with --ops-addr and together without
// it; a token file guards its app.
func TestStartHTTP(t *testing.T) {
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	file := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(file, []byte("web=t0ken\n"), 0o600)
	get := func(method, url, auth string) int {
		req, _ := http.NewRequest(method, url, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// What RESP sends through the instrumented backend, alone and in a batch, is in the
	// /metrics that either listener serves.
	withHTTP, err := parseFlags([]string{"--http-addr", "127.0.0.1:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m, b := instrument(withHTTP, n)
	ttl := func() *sessions.Command { return &sessions.Command{Kind: sessions.KindTTL} }
	b.Do(context.Background(), ttl())
	b.DoBatch(context.Background(), []*sessions.Command{ttl(), ttl()}, make([]api.Outcome, 2))
	counted := func(url string) bool {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), `sessiongate_commands_total{command="ttl"} 3`)
	}
	addrs := regexp.MustCompile(`msg="(ops )?http ready" addr=(\S+)`)
	for _, ops := range []bool{true, false} {
		args := []string{"--http-addr", "127.0.0.1:0", "--http-apps", "web=k1", "--http-tokens-file", file}
		if ops {
			args = append(args, "--ops-addr", "127.0.0.1:0")
		}
		o, err := parseFlags(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		web, err := startHTTP(o, n, m, b, slog.New(slog.NewTextHandler(&logs, nil)), make(chan error, 2))
		if err != nil {
			t.Fatal(err)
		}
		defer web.Shutdown(context.Background())
		var app, opsURL string
		for _, m := range addrs.FindAllStringSubmatch(logs.String(), -1) {
			if m[1] == "" {
				app = "http://" + m[2]
			} else {
				opsURL = "http://" + m[2]
			}
		}
		if code := get("PUT", app+"/web/create/u1?ip=1.2.3.4", ""); code != 401 {
			t.Errorf("ops %v: create without the token: %d", ops, code)
		}
		if code := get("PUT", app+"/web/create/u1?ip=1.2.3.4", "t0ken"); code != 200 {
			t.Errorf("ops %v: create with the token: %d", ops, code)
		}
		if ops {
			if code := get("GET", app+"/metrics", ""); code != 404 {
				t.Errorf("--ops-addr: the REST listener serves /metrics: %d", code)
			}
			if code := get("GET", opsURL+"/metrics", ""); code != 200 {
				t.Errorf("--ops-addr: the operator listener's /metrics: %d", code)
			}
			if !counted(opsURL + "/metrics") {
				t.Errorf("--ops-addr: the operator listener's /metrics lacks the backend's commands")
			}
		} else if code := get("GET", app+"/metrics", ""); code != 200 || opsURL != "" {
			t.Errorf("without --ops-addr: /metrics %d, operator listener %q", code, opsURL)
		} else if !counted(app + "/metrics") {
			t.Errorf("without --ops-addr: /metrics lacks the backend's commands")
		}
	}
	o, _ := parseFlags(nil, io.Discard)
	if web, err := startHTTP(o, n, m, b, slog.Default(), nil); web != nil || err != nil {
		t.Fatalf("no HTTP address: %v %v", web, err)
	}
	// Without a listener nothing could export metrics: the front ends get the bare node.
	if m, b := instrument(o, n); m != nil || b != api.Backend(n) {
		t.Fatalf("no HTTP address: metrics %v, backend %T", m, b)
	}
}
