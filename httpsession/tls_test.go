package httpsession

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"testing"

	"github.com/sessiongate/sessiongate/client"
	"github.com/sessiongate/sessiongate/client/sgtest"
	"github.com/sessiongate/sessiongate/internal/devcert"
)

// The manager works unchanged over a client whose connections are TLS with a client
// certificate: issue, load on the next request, rotate, clear.
func TestOverTLS(t *testing.T) {
	if serverBin == "" {
		t.Skip(noNodeReason)
	}
	files, err := devcert.Write(devcert.Options{Dir: t.TempDir(), Hosts: []string{"127.0.0.1"}})
	must(t, err)
	tlsAddr, err := sgtest.FreeAddr()
	must(t, err)
	node, err := sgtest.Start(context.Background(), serverBin, "--tls-addr", tlsAddr,
		"--tls-cert-file", files.NodeCert, "--tls-key-file", files.NodeKey, "--tls-ca-cert-file", files.CACert)
	must(t, err)
	defer node.Close()
	caPEM, err := os.ReadFile(files.CACert)
	must(t, err)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
	must(t, err)
	c, err := client.New(client.Config{Addrs: []string{tlsAddr}, SignKey: []byte("tls-key"),
		TLS: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}})
	must(t, err)
	defer c.Close()

	m := newManager(t, Config{Client: c})
	cookie := login(t, m, "alice", nil)
	var p probe
	if w := serve(m.Middleware(p.handler()), "GET", "/", cookie); w.Code != http.StatusOK || !p.has || p.owner != "alice" {
		t.Fatalf("request over a TLS client: %d, session %v, owner %q", w.Code, p.has, p.owner)
	}
	rotated := sessionCookie(t, serve(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.Rotate(w, r); err != nil {
			t.Errorf("Rotate: %v", err)
		}
	})), "POST", "/", cookie), m.cfg.Cookie.Name)
	if rotated == nil || rotated.Value == cookie.Value {
		t.Fatalf("rotate over TLS gave %v", rotated)
	}
	serve(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := m.Clear(w, r); err != nil {
			t.Errorf("Clear: %v", err)
		}
	})), "POST", "/", rotated)
	p = probe{}
	serve(m.Middleware(p.handler()), "GET", "/", rotated)
	if p.has {
		t.Fatal("the session outlived Clear")
	}
}
