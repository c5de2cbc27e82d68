package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/api/resp"
	"github.com/sessiongate/sessiongate/internal/devcert"
	"github.com/sessiongate/sessiongate/node"
)

func TestTLSFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"--tls", "--insecure", "--compare", "127.0.0.1:6380,tls://127.0.0.1:6390"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"tls://127.0.0.1:6380", "tls://127.0.0.1:6390"}; !reflect.DeepEqual(cfg.Compare, want) || !reflect.DeepEqual(cfg.Addrs, want) {
		t.Fatalf("--tls marked %q and %q", cfg.Compare, cfg.Addrs)
	}
	if cfg.TLS == nil || !cfg.TLS.InsecureSkipVerify || cfg.TLS.MinVersion != tls.VersionTLS12 {
		t.Fatalf("TLS config %+v", cfg.TLS)
	}
	if cfg, err := parseFlags([]string{"--addr", "tls://127.0.0.1:1", "--sni", "n1"}, io.Discard); err != nil || cfg.TLS.ServerName != "n1" {
		t.Fatalf("--sni: %v", err)
	}
	if cfg, err := parseFlags([]string{"--addr", "127.0.0.1:1"}, io.Discard); err != nil || cfg.TLS != nil {
		t.Fatalf("plain target: %v %v", cfg.TLS, err)
	}
	for _, args := range [][]string{
		{"--cacert", "ca.crt"},             // no TLS target
		{"--tls", "--cert", "client.crt"},  // no --key
		{"--tls", "--cacert", "/nonexist"}, // unreadable
		{"--addr", "tls://nohostport"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// sgbench drives a real RESP server over TLS that requires client certificates, and
// compares it with the same node's plain listener in one run.
func TestBenchOverTLS(t *testing.T) {
	files, err := devcert.Write(devcert.Options{Dir: t.TempDir(), Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	s := resp.NewServer(resp.Config{}, n)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}()
	cfg, err := (&tlsConfigFiles{files}).server()
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, secure := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		if secure {
			go s.Serve(tls.NewListener(ln, cfg))
		} else {
			go s.Serve(ln)
		}
	}
	certArgs := []string{"--cacert", files.CACert, "--cert", files.ClientCert, "--key", files.ClientKey}
	code, out, errOut := runMain(t, append([]string{"--addr", "tls://" + addrs[1], "--ops", "2000", "--sessions", "50", "--json"}, certArgs...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var res Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Ops < 2000 || res.Errors != 0 {
		t.Fatalf("result %+v, %v\n%s", res, err, out)
	}
	code, out, errOut = runMain(t, append([]string{"--compare", addrs[0] + ",tls://" + addrs[1], "--baseline", "sessiongate", "--ops", "2000", "--sessions", "50"}, certArgs...)...)
	if code != 0 || !strings.Contains(out, "tls://"+addrs[1]) {
		t.Fatalf("compare plain and TLS: exit %d\n%s\n%s", code, out, errOut)
	}
	// Without a client certificate the server refuses the connection.
	if code, _, _ := runMain(t, "--addr", "tls://"+addrs[1], "--cacert", files.CACert, "--ops", "10"); code == 0 {
		t.Fatal("sgbench ran against a server requiring a client certificate without one")
	}
}

// tlsConfigFiles builds a server config from devcert files, requiring client certificates.
type tlsConfigFiles struct{ devcert.Files }

func (f *tlsConfigFiles) server() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.NodeCert, f.NodeKey)
	if err != nil {
		return nil, err
	}
	client := tlsFlags{caFile: f.CACert}
	pool, err := client.config([]string{"tls://x:1"})
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool.RootCAs, ClientAuth: tls.RequireAndVerifyClientCert}, nil
}
