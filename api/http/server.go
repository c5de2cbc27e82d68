package httpapi

import (
	"context"
	"embed"
	"encoding/json"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessiongate/sessiongate/node"
)

//go:embed static
var static embed.FS

// Config configures the HTTP front end.
type Config struct {
	// Apps maps rest-sessions app names to their sign keys. Apps not listed get 404.
	Apps map[string][]byte
	// CommandTimeout bounds one request's trip through the cluster. Default 5s.
	CommandTimeout time.Duration
}

// Server is the HTTP front end of one node.
type Server struct {
	n       *node.Node
	metrics *Metrics
	srv     *http.Server
}

// New builds the HTTP front end. b is the (instrumented) backend the REST routes use.
func New(cfg Config, n *node.Node, m *Metrics, b Backend) *Server {
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 5 * time.Second
	}
	s := &Server{n: n, metrics: m}
	mux := http.NewServeMux()
	(&rest{b: b, apps: cfg.Apps, timeout: cfg.CommandTimeout}).routes(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
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
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	return s
}

// Handler exposes the routes (for tests).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// Shutdown stops the server gracefully.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

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
	for _, sec := range s.n.InfoSections() {
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
