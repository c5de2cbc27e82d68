package httpapi

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessiongate/sessiongate/api"
)

//go:embed static
var static embed.FS

// Config configures the HTTP front end.
type Config struct {
	// Apps maps rest-sessions app names to their sign keys. Apps not listed get 404.
	Apps map[string][]byte
	// Tokens maps app names to access tokens: a request for such an app must carry
	// "Authorization: Bearer <token>" or gets 401. Apps not listed need none.
	Tokens map[string]string
	// CommandTimeout bounds one request's trip through the cluster. Default 5s.
	CommandTimeout time.Duration
	// SeparateOps keeps the operator routes (/metrics, /healthz, /readyz, /cluster.json and
	// the status page) off Serve's listener: only ServeOps serves them then.
	SeparateOps bool
	// MaxConns caps the connections open at once on each listener; more are answered 503
	// and closed. Default 1000.
	MaxConns int
	// ReadTimeout bounds reading one request, headers and body. Default 30s.
	ReadTimeout time.Duration
}

// Defaults of Config.
const (
	DefaultMaxConns    = 1000
	DefaultReadTimeout = 30 * time.Second
)

// Server is the HTTP front end of one node.
type Server struct {
	n        api.Node
	metrics  *Metrics
	srv, ops *http.Server
	maxConns int
}

// New builds the HTTP front end. b is the (instrumented) backend the REST routes use.
func New(cfg Config, n api.Node, m *Metrics, b Backend) *Server {
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 5 * time.Second
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	s := &Server{n: n, metrics: m, maxConns: cfg.MaxConns}
	app, ops := http.NewServeMux(), http.NewServeMux()
	(&rest{b: b, apps: cfg.Apps, tokens: newAccessTokens(cfg.Tokens), timeout: cfg.CommandTimeout}).routes(app)
	s.opsRoutes(ops)
	if !cfg.SeparateOps {
		s.opsRoutes(app)
	}
	s.srv, s.ops = s.server(app, cfg), s.server(ops, cfg)
	return s
}

// server bounds what one connection may hold: a request must arrive within ReadTimeout,
// body included (a body trickled in is cut off), and its answer must be written within the
// command timeout and as long again as the read may take.
func (s *Server) server(h http.Handler, cfg Config) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout),
		ReadTimeout: cfg.ReadTimeout, WriteTimeout: 2*cfg.ReadTimeout + cfg.CommandTimeout,
		IdleTimeout: 2 * time.Minute}
}

func (s *Server) opsRoutes(mux *http.ServeMux) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.ready)
	mux.HandleFunc("GET /cluster.json", s.clusterJSON)
	// Exact paths: a "/static/" subtree would collide with the REST routes' "/{app}/..." shape.
	for _, f := range []string{"app.js", "style.css"} {
		mux.HandleFunc("GET /static/"+f, func(w http.ResponseWriter, r *http.Request) {
			http.ServeFileFS(w, r, static, "static/"+f)
		})
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "static/index.html")
	})
}

// Handler exposes the REST routes, with the operator routes unless they are separate (for tests).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Serve serves the REST API (and the operator routes unless they are separate) on ln until
// Shutdown.
func (s *Server) Serve(ln net.Listener) error { return serve(s.srv, ln, s.maxConns) }

// ServeOps serves the operator routes on ln until Shutdown.
func (s *Server) ServeOps(ln net.Listener) error { return serve(s.ops, ln, s.maxConns) }

func serve(srv *http.Server, ln net.Listener, maxConns int) error {
	if err := srv.Serve(newLimitListener(ln, maxConns)); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// Shutdown stops both listeners gracefully.
func (s *Server) Shutdown(ctx context.Context) error {
	return errors.Join(s.srv.Shutdown(ctx), s.ops.Shutdown(ctx))
}

// ready answers 200 when the node can serve: alone, or joined with no partition of its view
// under-replicated and none still syncing.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	v := s.n.ClusterView()
	if v == nil {
		writeJSON(w, http.StatusOK, map[string]any{"ready": true, "cluster": false})
		return
	}
	under, syncing, primary := 0, 0, 0
	for _, p := range v.Partitions {
		if p.UnderReplicated {
			under++
		}
		if p.Syncing {
			syncing++
		}
		if p.Replicas[0] == v.Self {
			primary++
		}
	}
	body := map[string]any{"ready": under == 0, "members": len(v.Members), "partitions_primary": primary,
		"partitions_under_replicated": under, "partitions_syncing": syncing}
	status := http.StatusOK
	if under > 0 {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

// clusterJSON feeds the status page.
func (s *Server) clusterJSON(w http.ResponseWriter, r *http.Request) {
	type section struct {
		Name   string            `json:"name"`
		Fields map[string]string `json:"fields"`
	}
	var info []section
	for _, sec := range api.Sections(s.n) {
		f := map[string]string{}
		for _, kv := range sec.Fields {
			f[kv[0]] = kv[1]
		}
		info = append(info, section{sec.Name, f})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"now": time.Now().UnixMilli(), "cluster": s.n.ClusterView(), "info": info})
}
