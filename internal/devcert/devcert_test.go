package devcert

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCert(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWriteMakesCertificatesThatVerify(t *testing.T) {
	dir := t.TempDir()
	f, err := Write(Options{Dir: dir, Hosts: []string{"127.0.0.1", "localhost", "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !f.CACreated {
		t.Fatal("the CA was not reported as created")
	}
	for _, p := range []string{f.CAKey, f.NodeKey, f.ClientKey} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, %v", p, st.Mode().Perm(), err)
		}
	}
	ca := readCert(t, f.CACert)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	node := readCert(t, f.NodeCert)
	for _, host := range []string{"127.0.0.1", "localhost", "n1"} {
		if _, err := node.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("node certificate for %s: %v", host, err)
		}
	}
	if _, err := node.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("node certificate as a client (inter-node TLS): %v", err)
	}
	if err := node.VerifyHostname("10.9.9.9"); err == nil {
		t.Error("node certificate valid for a host it was not issued for")
	}
	client := readCert(t, f.ClientCert)
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate usable as a server certificate")
	}
	if life := node.NotAfter.Sub(node.NotBefore); life > LeafValidity+2*backdate || life < LeafValidity {
		t.Errorf("node certificate valid for %v", life)
	}
}

func TestWriteRefusesToOverwriteUnlessAsked(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Hosts: []string{"localhost"}}
	f, err := Write(o)
	if err != nil {
		t.Fatal(err)
	}
	caBefore, _ := os.ReadFile(f.CACert)
	keyBefore, _ := os.ReadFile(f.NodeKey)
	if _, err := Write(o); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second Write: %v", err)
	}
	if now, _ := os.ReadFile(f.NodeKey); !bytes.Equal(now, keyBefore) {
		t.Fatal("a refused Write changed node.key")
	}
	o.Overwrite = true
	f2, err := Write(o)
	if err != nil {
		t.Fatal(err)
	}
	caAfter, _ := os.ReadFile(f.CACert)
	keyAfter, _ := os.ReadFile(f.NodeKey)
	if f2.CACreated || !bytes.Equal(caBefore, caAfter) {
		t.Fatal("overwriting the leaves replaced the CA")
	}
	if bytes.Equal(keyBefore, keyAfter) {
		t.Fatal("overwrite kept the old node key")
	}
}

func TestWriteSignsWithAnExistingCA(t *testing.T) {
	caDir := t.TempDir()
	if _, err := Write(Options{Dir: caDir, Hosts: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	f, err := Write(Options{Dir: other, CADir: caDir, Hosts: []string{"n2"}})
	if err != nil || f.CACreated {
		t.Fatalf("second node: %+v %v", f, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(caDir, CACertFile)))
	if _, err := readCert(t, f.NodeCert).Verify(x509.VerifyOptions{DNSName: "n2", Roots: roots}); err != nil {
		t.Fatal(err)
	}
	// Half a CA is refused rather than silently replaced.
	os.Remove(filepath.Join(caDir, CAKeyFile))
	if _, err := Write(Options{Dir: t.TempDir(), CADir: caDir, Hosts: []string{"n3"}}); err == nil {
		t.Fatal("a CA certificate without its key was accepted")
	}
}

// A node certificate serves and a client certificate authenticates in a real handshake
// that requires and verifies client certificates.
func TestMutualHandshake(t *testing.T) {
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := ca.KeyPEM()
	if _, err := ParseCA(ca.CertPEM(), keyPEM); err != nil {
		t.Fatalf("ParseCA of NewCA's own PEM: %v", err)
	}
	if blk, _ := pem.Decode(keyPEM); blk == nil || blk.Type != "PRIVATE KEY" {
		t.Fatal("CA key is not PKCS#8 PEM")
	}
	srvLeaf, err := ca.Issue("node", []string{"localhost"}, Server|Client, 0)
	if err != nil {
		t.Fatal(err)
	}
	cliLeaf, err := ca.Issue("app", nil, Client, 0)
	if err != nil {
		t.Fatal(err)
	}
	srvCert, _ := srvLeaf.TLS()
	cliCert, _ := cliLeaf.TLS()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert})
	cli := tls.Client(b, &tls.Config{Certificates: []tls.Certificate{cliCert}, RootCAs: ca.Pool(), ServerName: "localhost"})
	done := make(chan error, 1)
	go func() { done <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := srv.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "app" {
		t.Fatalf("server saw client %q", got)
	}
	if _, err := ca.Issue("x", nil, Server, 0); err == nil {
		t.Fatal("a server certificate without hosts was issued")
	}
}
