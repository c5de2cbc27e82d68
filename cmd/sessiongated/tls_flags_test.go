package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiongate/sessiongate/client/sgtest"
	"github.com/sessiongate/sessiongate/internal/devcert"
)

func devFiles(t *testing.T) devcert.Files {
	t.Helper()
	f, err := devcert.Write(devcert.Options{Dir: t.TempDir(), Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestClientTLSFlags(t *testing.T) {
	f := devFiles(t)
	certs := []string{"--tls-cert-file", f.NodeCert, "--tls-key-file", f.NodeKey}
	ca := []string{"--tls-ca-cert-file", f.CACert}
	cases := []struct {
		args []string
		want tls.ClientAuthType
		off  bool   // no TLS at all
		err  string // a refusal naming this
	}{
		{args: nil, off: true},
		{args: append([]string{"--tls-addr", "x:1"}, certs...), want: tls.NoClientCert},
		{args: append(append([]string{"--tls-addr", "x:1"}, certs...), ca...), want: tls.RequireAndVerifyClientCert},
		{args: append(append([]string{"--http-tls", "--tls-auth-clients", "optional"}, certs...), ca...), want: tls.VerifyClientCertIfGiven},
		{args: append(append([]string{"--tls-addr", "x:1", "--tls-auth-clients", "no"}, certs...), ca...), want: tls.NoClientCert},
		{args: append([]string{"--tls-addr", "x:1", "--tls-auth-clients", "yes"}, certs...), err: "--tls-ca-cert-file"},
		{args: append(append([]string{"--tls-addr", "x:1", "--tls-auth-clients", "maybe"}, certs...), ca...), err: "no, optional or yes"},
		{args: certs, err: "need --tls-addr or --http-tls"},
		{args: []string{"--tls-addr", "x:1"}, err: "--tls-cert-file"},
		{args: []string{"--tls-addr", "x:1", "--tls-cert-file", f.NodeCert, "--tls-key-file", f.ClientKey}, err: "--tls-cert-file/--tls-key-file"},
		{args: append([]string{"--tls-addr", "x:1", "--tls-ca-cert-file", f.NodeKey}, certs...), err: "no PEM certificate"},
	}
	for _, c := range cases {
		o, err := parseFlags(c.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := o.tls.config()
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: error %v, want one about %s", c.args, err, c.err)
			}
		case err != nil:
			t.Errorf("%v: %v", c.args, err)
		case c.off:
			if cfg != nil {
				t.Errorf("%v: TLS config without TLS flags", c.args)
			}
		case cfg.ClientAuth != c.want || cfg.MinVersion != tls.VersionTLS12 || len(cfg.Certificates) != 1:
			t.Errorf("%v: client auth %v, min version %x", c.args, cfg.ClientAuth, cfg.MinVersion)
		case c.want != tls.NoClientCert && cfg.ClientCAs == nil:
			t.Errorf("%v: verifies clients without a CA pool", c.args)
		}
	}
}

func TestPlainRESPCanBeTurnedOff(t *testing.T) {
	f := devFiles(t)
	if err := run([]string{"--addr", "off"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no RESP listener") {
		t.Fatalf("--addr off without --tls-addr: %v", err)
	}
	tlsFlags := clientTLS{addr: "127.0.0.1:0", certFile: f.NodeCert, keyFile: f.NodeKey}
	for _, off := range []string{"off", ""} {
		l, err := openListeners(off, &tlsFlags, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l.plain != nil || l.secure == nil || !strings.HasPrefix(l.String(), "tls://127.0.0.1:") {
			t.Errorf("--addr %q: listeners %s", off, l)
		}
		if got := advertised(off, &tlsFlags); got != "127.0.0.1:0" {
			t.Errorf("advertised RESP address %q", got)
		}
		l.Close()
	}
}

// A real node with plain RESP, RESP over TLS requiring client certificates, and HTTPS:
// go-redis and net/http over TLS, the client certificate enforced on both.
func TestNodeServesTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts sessiongated")
	}
	ctx := context.Background()
	bin, err := sgtest.Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := devFiles(t)
	tlsAddr, _ := sgtest.FreeAddr()
	httpAddr, _ := sgtest.FreeAddr()
	n, err := sgtest.Start(ctx, bin, "--tls-addr", tlsAddr, "--tls-cert-file", f.NodeCert, "--tls-key-file", f.NodeKey,
		"--tls-ca-cert-file", f.CACert, "--http-addr", httpAddr, "--http-tls", "--http-apps", "web=k", "--http-max-conns", "1")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	caPEM, _ := os.ReadFile(f.CACert)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}
	without := &tls.Config{RootCAs: roots}

	rc := redis.NewClient(&redis.Options{Addr: tlsAddr, TLSConfig: withCert, MaxRetries: -1, DisableIdentity: true})
	defer rc.Close()
	tok, err := rc.Do(ctx, "SESSIONGATE.START", "k", 60).Text()
	if err != nil {
		t.Fatalf("START over TLS: %v", err)
	}
	if err := rc.Do(ctx, "SESSIONGATE.PSET", "k", tok, "a", "b").Err(); err != nil {
		t.Fatal(err)
	}
	plain := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1, DisableIdentity: true})
	defer plain.Close()
	if got, err := plain.Do(ctx, "SESSIONGATE.PGET", "k", tok, "a").Text(); err != nil || got != "b" {
		t.Fatalf("the plain listener serves the same node: %q %v", got, err)
	}
	anon := redis.NewClient(&redis.Options{Addr: tlsAddr, TLSConfig: without, MaxRetries: -1, DisableIdentity: true})
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil {
		t.Fatal("RESP over TLS served a client without a certificate (tls-auth-clients defaults to yes with a CA)")
	}

	// HTTPS, its one connection slot (--http-max-conns 1) and its accept loop untouched by
	// a connection that never sends a TLS hello.
	silent, err := net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	get := func(cfg *tls.Config, url string) (int, error) {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get(url)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(withCert, "https://"+httpAddr+"/healthz"); err != nil || code != 200 {
		t.Fatalf("HTTPS /healthz beside a silent connection: %d %v", code, err)
	}
	if _, err := get(without, "https://"+httpAddr+"/healthz"); err == nil {
		t.Fatal("HTTPS served a client without a certificate")
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(n.Log(), `msg="https handshake failed"`); {
		if time.Now().After(deadline) {
			t.Fatalf("no warning for the refused HTTPS client:\n%s", n.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := get(nil, "http://"+httpAddr+"/healthz"); err == nil {
		t.Fatal("plain HTTP answered on the HTTPS listener")
	}
	if !n.Alive() {
		t.Fatalf("node exited:\n%s", n.Log())
	}
}
