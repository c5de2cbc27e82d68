package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// tlsScheme marks an address dialled over TLS (tls://HOST:PORT), so that --compare can set
// a plain target against a TLS one; --tls marks every address.
const tlsScheme = "tls://"

// tlsFlags are the TLS flags, named as redis-cli's and redis-benchmark's.
type tlsFlags struct {
	all, insecure                  bool
	caFile, certFile, keyFile, sni string
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.all, "tls", false, "connect to every target over TLS (or mark single targets tls://HOST:PORT)")
	fs.StringVar(&f.caFile, "cacert", "", "CA certificates (PEM) to verify TLS targets with (default: the system's)")
	fs.StringVar(&f.certFile, "cert", "", "client certificate (PEM) for TLS targets that verify clients")
	fs.StringVar(&f.keyFile, "key", "", "private key (PEM) of --cert")
	fs.StringVar(&f.sni, "sni", "", "server name to send and verify (default: each target's host)")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify TLS targets' certificates")
}

// mark prefixes every address with tlsScheme when --tls is given.
func (f *tlsFlags) mark(addrs []string) {
	if !f.all {
		return
	}
	for i, a := range addrs {
		if !strings.HasPrefix(a, tlsScheme) {
			addrs[i] = tlsScheme + a
		}
	}
}

// config builds the client TLS config for the tls:// addresses among addrs; nil when there
// are none. TLS options without a TLS target are an error rather than silently unused.
func (f *tlsFlags) config(addrs []string) (*tls.Config, error) {
	some := false
	for _, a := range addrs {
		_, ok := splitTLS(a)
		some = some || ok
	}
	if !some {
		if f.caFile != "" || f.certFile != "" || f.keyFile != "" || f.sni != "" || f.insecure {
			return nil, errors.New("--cacert, --cert, --key, --sni and --insecure need --tls or a tls:// address")
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.sni, InsecureSkipVerify: f.insecure}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert: no PEM certificate in %s", f.caFile)
		}
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if f.certFile != "" {
		c, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// splitTLS strips tlsScheme from addr and says whether it was there.
func splitTLS(addr string) (string, bool) {
	return strings.CutPrefix(addr, tlsScheme)
}

// dialTLS connects to hostport and completes a TLS handshake with cfg within timeout; an
// empty ServerName becomes hostport's host.
func dialTLS(ctx context.Context, hostport string, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, err
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(hostport)
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	return tc, nil
}
