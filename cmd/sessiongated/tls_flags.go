package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/sessiongate/sessiongate/api/resp"
)

// clientTLS holds the flags for TLS towards clients (RESP and HTTP), named after Redis's
// tls-port, tls-cert-file, tls-key-file, tls-ca-cert-file and tls-auth-clients.
type clientTLS struct {
	addr, certFile, keyFile, caFile, authClients string
	http                                         bool
	// server is the config openListeners built, which the HTTP listeners opened after it
	// use too (nil without TLS), and log receives their failed handshakes.
	server *tls.Config
	log    *slog.Logger
}

func (t *clientTLS) register(fs *flag.FlagSet) {
	fs.StringVar(&t.addr, "tls-addr", "", "RESP over TLS listen address HOST:PORT (empty: off; needs --tls-cert-file and --tls-key-file)")
	fs.StringVar(&t.certFile, "tls-cert-file", "", "server certificate (PEM, chain after the leaf) for --tls-addr and --http-tls")
	fs.StringVar(&t.keyFile, "tls-key-file", "", "private key (PEM) of --tls-cert-file")
	fs.StringVar(&t.caFile, "tls-ca-cert-file", "", "CA certificates (PEM) that client certificates must chain to")
	fs.StringVar(&t.authClients, "tls-auth-clients", "", "client certificates: no, optional (verified when sent) or yes (required); default yes with --tls-ca-cert-file, else no")
	fs.BoolVar(&t.http, "http-tls", false, "serve HTTPS on --http-addr (and --ops-addr) with the --tls-* certificate and client-certificate policy")
}

// enabled says whether any listener is to speak TLS.
func (t *clientTLS) enabled() bool { return t.addr != "" || t.http }

// config builds the server side of client TLS; nil, nil when TLS is off. Files are read
// once: renewing a certificate takes a restart.
func (t *clientTLS) config() (*tls.Config, error) {
	if !t.enabled() {
		if t.certFile != "" || t.keyFile != "" || t.caFile != "" || t.authClients != "" {
			return nil, errors.New("--tls-cert-file, --tls-key-file, --tls-ca-cert-file and --tls-auth-clients need --tls-addr or --http-tls")
		}
		return nil, nil
	}
	if t.certFile == "" || t.keyFile == "" {
		return nil, errors.New("--tls-addr and --http-tls need --tls-cert-file and --tls-key-file")
	}
	cert, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert-file/--tls-key-file: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	auth := t.authClients
	if auth == "" {
		auth = "no"
		if t.caFile != "" {
			auth = "yes" // Redis's default: a CA given is a CA to check clients against
		}
	}
	switch auth {
	case "no":
		cfg.ClientAuth = tls.NoClientCert
	case "optional":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "yes":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("--tls-auth-clients must be no, optional or yes, not %q", t.authClients)
	}
	if cfg.ClientAuth != tls.NoClientCert {
		if t.caFile == "" {
			return nil, fmt.Errorf("--tls-auth-clients %s needs --tls-ca-cert-file", auth)
		}
		if cfg.ClientCAs, err = loadCAPool(t.caFile); err != nil {
			return nil, fmt.Errorf("--tls-ca-cert-file: %w", err)
		}
	}
	return cfg, nil
}

// loadCAPool reads PEM CA certificates into a pool, for client TLS and peer TLS alike.
func loadCAPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", path)
	}
	return pool, nil
}

// plainOff says whether --addr turns plain RESP off: "off" or empty.
func plainOff(addr string) bool { return addr == "" || addr == "off" }

// listeners are the client-facing RESP listeners the flags ask for.
type listeners struct {
	plain, secure net.Listener // either may be nil, never both
}

// openListeners validates the client TLS flags and opens the RESP listeners: plain on addr
// unless it is "off" (or empty), TLS on --tls-addr when given. It must run before the HTTP
// listeners are opened (httpListener uses the config it builds).
func openListeners(addr string, t *clientTLS, log *slog.Logger) (*listeners, error) {
	cfg, err := t.config()
	if err != nil {
		return nil, err
	}
	t.server, t.log = cfg, log
	l := &listeners{}
	if plainOff(addr) && t.addr == "" {
		return nil, errors.New("no RESP listener: --addr is off and --tls-addr is not set")
	}
	if !plainOff(addr) {
		if l.plain, err = net.Listen("tcp", addr); err != nil {
			return nil, err
		}
	}
	if t.addr != "" {
		inner, err := net.Listen("tcp", t.addr)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.secure = tls.NewListener(inner, cfg)
	}
	return l, nil
}

// Close closes the RESP listeners.
func (l *listeners) Close() {
	for _, ln := range []net.Listener{l.plain, l.secure} {
		if ln != nil {
			ln.Close()
		}
	}
}

// serve runs srv on each RESP listener; each Serve's result goes to errc.
func (l *listeners) serve(srv *resp.Server, errc chan<- error) {
	for _, ln := range []net.Listener{l.plain, l.secure} {
		if ln != nil {
			go func() { errc <- srv.Serve(ln) }()
		}
	}
}

// httpListener wraps an HTTP listener in TLS when --http-tls is set, handshakes done off
// the accept path (handshakeListener). net/http's accept loop sees the inner listener's
// errors unchanged, and it retries those that are Temporary with backoff (5 ms doubling to
// 1 s, net/http's Server.Serve): syscall.Errno counts EMFILE and ENFILE as temporary, and
// net.OpError ECONNRESET and ECONNABORTED from accept, so running out of descriptors ends
// neither the HTTP server nor the HTTPS one.
func (t *clientTLS) httpListener(ln net.Listener) net.Listener {
	if !t.http {
		return ln
	}
	return newHandshakeListener(ln, t.server, httpsHandshakeTimeout, maxPendingHandshakes, t.log)
}

// String names the RESP addresses for the start-up log.
func (l *listeners) String() string {
	var parts []string
	if l.plain != nil {
		parts = append(parts, l.plain.Addr().String())
	}
	if l.secure != nil {
		parts = append(parts, "tls://"+l.secure.Addr().String())
	}
	return strings.Join(parts, ",")
}

// advertised is the RESP address shown to operators in cluster views: the plain one, or
// the TLS one when plain RESP is off.
func advertised(addr string, t *clientTLS) string {
	if plainOff(addr) {
		return t.addr
	}
	return addr
}
