package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sessiongate/sessiongate/api"
	httpapi "github.com/sessiongate/sessiongate/api/http"
	"github.com/sessiongate/sessiongate/node"
)

// tokensEnv holds REST access tokens themselves (app=token[,app=token...]) for deployments
// that pass secrets through the environment rather than files; there is no flag for them,
// since a command line is visible to every user of the machine.
const tokensEnv = "SESSIONGATE_HTTP_TOKENS"

// restFlags are the HTTP front end's flags beyond --http-addr and --http-apps.
type restFlags struct {
	opsAddr     string
	tokensFile  string
	maxConns    int
	readTimeout time.Duration
}

func (f *restFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.opsAddr, "ops-addr", "", "HTTP address for /metrics, /healthz, /readyz and the status page on their own, off --http-addr (empty: they share --http-addr)")
	fs.StringVar(&f.tokensFile, "http-tokens-file", "", "file of REST access tokens, one app=token per line (or "+tokensEnv+"=app=token[,app=token...]); requests for such an app need Authorization: Bearer <token>")
	fs.IntVar(&f.maxConns, "http-max-conns", httpapi.DefaultMaxConns, "HTTP connections open at once, per listener; more are answered 503 and closed")
	fs.DurationVar(&f.readTimeout, "http-read-timeout", httpapi.DefaultReadTimeout, "time to read one HTTP request, body included")
}

// config builds the HTTP front end's configuration. Every token must name an app of apps.
func (f *restFlags) config(apps map[string][]byte) (httpapi.Config, error) {
	cfg := httpapi.Config{Apps: apps, Tokens: map[string]string{}, SeparateOps: f.opsAddr != "",
		MaxConns: f.maxConns, ReadTimeout: f.readTimeout}
	if f.maxConns < 1 {
		return cfg, fmt.Errorf("--http-max-conns must be at least 1, not %d", f.maxConns)
	}
	if f.readTimeout <= 0 {
		return cfg, fmt.Errorf("--http-read-timeout must be positive, not %v", f.readTimeout)
	}
	if env, ok := os.LookupEnv(tokensEnv); ok {
		if err := addTokens(cfg.Tokens, strings.Split(env, ","), apps); err != nil {
			return cfg, fmt.Errorf("%s: %w", tokensEnv, err)
		}
	}
	if f.tokensFile != "" {
		raw, err := readSecretFile(f.tokensFile) // refuses a file others may read
		if err != nil {
			return cfg, fmt.Errorf("--http-tokens-file: %w", err)
		}
		var lines []string
		for sc := bufio.NewScanner(bytes.NewReader(raw)); sc.Scan(); {
			if line := strings.TrimSpace(sc.Text()); !strings.HasPrefix(line, "#") {
				lines = append(lines, line)
			}
		}
		if err := addTokens(cfg.Tokens, lines, apps); err != nil {
			return cfg, fmt.Errorf("--http-tokens-file %s: %w", f.tokensFile, err)
		}
	}
	return cfg, nil
}

// addTokens reads app=token entries (blank ones skipped). An app given twice is refused:
// which of two tokens holds would otherwise depend on the order of sources.
func addTokens(dst map[string]string, entries []string, apps map[string][]byte) error {
	for _, e := range entries {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		app, tok, ok := strings.Cut(e, "=")
		app, tok = strings.TrimSpace(app), strings.TrimSpace(tok)
		switch _, known := apps[app]; {
		case !ok || app == "" || tok == "":
			return errors.New("an entry is not app=token") // the entry holds a secret: not quoted
		case !known:
			return fmt.Errorf("a token for app %q, which --http-apps does not name", app)
		case dst[app] != "":
			return fmt.Errorf("a second token for app %q", app)
		}
		dst[app] = tok
	}
	return nil
}

// instrument builds the node's metrics and the backend every front end uses: the node, its
// commands counted and timed into those metrics. A node without an HTTP or ops listener, where
// nothing could export them, has none: counting costs about 5% of the server's CPU per PGET at
// depth 1 (two clock readings and atomic adds shared by every connection, per command; sgbench
// --server-pids against the same build without them), past what a metric no one reads is worth.
func instrument(o *options, n *node.Node) (*httpapi.Metrics, api.Backend) {
	if o.httpAddr == "" && o.rest.opsAddr == "" {
		return nil, n
	}
	m := httpapi.NewMetrics(n)
	return m, m.Instrument(n)
}

// startHTTP starts the HTTP front end when --http-addr or --ops-addr is set: the REST API on
// the first, the operator routes (/metrics of m among them) on the second, or on the first
// when there is no second. It returns nil when both are off.
func startHTTP(o *options, n *node.Node, m *httpapi.Metrics, backend api.Backend, log *slog.Logger, serveErr chan<- error) (*httpapi.Server, error) {
	if o.httpAddr == "" && o.rest.opsAddr == "" {
		return nil, nil
	}
	apps, err := parseApps(o.httpApps)
	if err != nil {
		return nil, err
	}
	cfg, err := o.rest.config(apps)
	if err != nil {
		return nil, err
	}
	var lns []net.Listener
	for _, addr := range []string{o.httpAddr, o.rest.opsAddr} {
		if addr == "" {
			lns = append(lns, nil)
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				if l != nil {
					l.Close()
				}
			}
			return nil, err
		}
		lns = append(lns, o.tls.httpListener(ln)) // HTTPS with --http-tls (tls_flags.go)
	}
	web := httpapi.New(cfg, n, m, backend)
	if lns[0] != nil {
		go func() { serveErr <- web.Serve(lns[0]) }()
		log.Info("http ready", "addr", lns[0].Addr().String(), "apps", len(apps), "tokens", len(cfg.Tokens))
	}
	if lns[1] != nil {
		go func() { serveErr <- web.ServeOps(lns[1]) }()
		log.Info("ops http ready", "addr", lns[1].Addr().String())
	}
	return web, nil
}
