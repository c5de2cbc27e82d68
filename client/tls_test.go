package client

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/client/sgtest"
	"github.com/sessiongate/sessiongate/internal/devcert"
)

// tlsNode starts a node serving RESP over TLS (client certificates required) besides plain
// RESP, and returns its TLS address and a client TLS config holding client.crt.
func tlsNode(t *testing.T) (string, *tls.Config, *devcert.CA) {
	t.Helper()
	files, err := devcert.Write(devcert.Options{Dir: t.TempDir(), Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(files.CACert)
	caKey, _ := os.ReadFile(files.CAKey)
	ca, err := devcert.ParseCA(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr, err := sgtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	startNode(t, "--tls-addr", tlsAddr, "--tls-cert-file", files.NodeCert, "--tls-key-file", files.NodeKey, "--tls-ca-cert-file", files.CACert)
	cert, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	return tlsAddr, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cert}}, ca
}

func TestRealTLS(t *testing.T) {
	addr, cfg, ca := tlsNode(t)
	ctx := context.Background()
	c, err := New(Config{Addrs: []string{addr}, SignKey: []byte("k"), TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok, err := c.Create(ctx, time.Minute, CreateOptions{Owner: "alice"})
	must(t, err)
	must(t, c.PUpdate(ctx, tok, Set("cart", []byte("3"))))
	got, err := c.PGet(ctx, tok, "cart")
	if err != nil || string(got) != "3" {
		t.Fatalf("PGet over TLS: %q %v", got, err)
	}
	must(t, c.End(ctx, tok))
	if _, err := c.PGet(ctx, tok, "cart"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("after End: %v", err)
	}

	for name, bad := range map[string]*tls.Config{
		"no TLS":                nil,
		"no client certificate": {RootCAs: ca.Pool()},
		"untrusted server":      {Certificates: cfg.Certificates},
	} {
		bc, err := New(Config{Addrs: []string{addr}, SignKey: []byte("k"), TLS: bad, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bc.Start(ctx, time.Minute); err == nil {
			t.Errorf("%s: Start succeeded", name)
		}
		bc.Close()
	}
}
