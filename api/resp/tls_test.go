package resp

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/internal/devcert"
	"github.com/sessiongate/sessiongate/node"
)

// tlsFixture is a RESP server on a TLS listener and the certificate files it was made with.
type tlsFixture struct {
	addr  string
	files devcert.Files
	ca    *devcert.CA
}

// startTLSServer serves RESP over TLS on a free loopback port with a development CA's node
// certificate, verifying client certificates as auth says.
func startTLSServer(t *testing.T, cfg Config, auth tls.ClientAuthType) *tlsFixture {
	t.Helper()
	files, err := devcert.Write(devcert.Options{Dir: t.TempDir(), Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(files.CACert)
	caKey, _ := os.ReadFile(files.CAKey)
	ca, err := devcert.ParseCA(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(files.NodeCert, files.NodeKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(inner, &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: ca.Pool(), ClientAuth: auth, MinVersion: tls.VersionTLS12,
	})
	cfg.Sections = func() []api.Section { return api.Sections(n) }
	s := NewServer(cfg, n)
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		n.Shutdown()
	})
	return &tlsFixture{addr: inner.Addr().String(), files: files, ca: ca}
}

// clientTLS trusts the fixture's CA and presents the certificate in certFile, if any.
func (f *tlsFixture) clientTLS(t *testing.T, certFile, keyFile string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg
}

func (f *tlsFixture) goRedis(t *testing.T, cfg *tls.Config) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: f.addr, TLSConfig: cfg, MaxRetries: -1, DisableIdentity: true, PoolSize: 2})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTLSGoRedis(t *testing.T) {
	f := startTLSServer(t, Config{}, tls.NoClientCert)
	ctx := context.Background()
	c := f.goRedis(t, f.clientTLS(t, "", ""))
	tok, err := c.Do(ctx, "SESSIONGATE.START", "k", 60).Text()
	if err != nil || len(tok) != 84 {
		t.Fatalf("START over TLS: %q %v", tok, err)
	}
	p := c.Pipeline()
	for i := range 20 {
		p.Do(ctx, "SESSIONGATE.PSET", "k", tok, "n", itoa(i))
	}
	get := p.Do(ctx, "SESSIONGATE.PGET", "k", tok, "n")
	if _, err := p.Exec(ctx); err != nil || get.Val() != "19" {
		t.Fatalf("pipeline over TLS: %v %v", get.Val(), err)
	}
	// A plain-text client on the TLS port gets no RESP reply: the server wants a handshake.
	nc, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("*1\r\n$4\r\nPING\r\n"))
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, _ := nc.Read(buf)
	if strings.Contains(string(buf[:n]), "PONG") {
		t.Fatal("plain RESP answered on the TLS listener")
	}
	// A client that does not trust the server's CA refuses it.
	other, err := devcert.NewCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bad := f.goRedis(t, &tls.Config{RootCAs: other.Pool(), ServerName: "127.0.0.1"})
	if err := bad.Ping(ctx).Err(); err == nil {
		t.Fatal("a client trusting another CA accepted the server")
	}
}

// tls-auth-clients yes (RequireAndVerifyClientCert) and optional (VerifyClientCertIfGiven).
func TestTLSClientCertificates(t *testing.T) {
	ctx := context.Background()
	other, err := devcert.NewCA("stranger CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Issue("stranger", nil, devcert.Client, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forgedCert, _ := forged.TLS()
	for _, tc := range []struct {
		auth                 tls.ClientAuthType
		noCert, ourCert, bad bool // whether each client may talk
	}{
		{tls.RequireAndVerifyClientCert, false, true, false},
		{tls.VerifyClientCertIfGiven, true, true, false},
	} {
		f := startTLSServer(t, Config{}, tc.auth)
		withForged := f.clientTLS(t, "", "")
		// Sent whatever the server asks for (a client picking by the server's CA list would
		// send no certificate at all).
		withForged.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &forgedCert, nil }
		for _, cl := range []struct {
			name string
			cfg  *tls.Config
			ok   bool
		}{
			{"no certificate", f.clientTLS(t, "", ""), tc.noCert},
			{"client.crt", f.clientTLS(t, f.files.ClientCert, f.files.ClientKey), tc.ourCert},
			{"another CA's certificate", withForged, tc.bad},
		} {
			err := f.goRedis(t, cl.cfg).Ping(ctx).Err()
			if (err == nil) != cl.ok {
				t.Errorf("%v, %s: ping error %v, want success %v", tc.auth, cl.name, err, cl.ok)
			}
		}
	}
}

// A connection that never completes its handshake is closed after HandshakeTimeout, and
// its slot is free again.
func TestTLSHandshakeHasADeadline(t *testing.T) {
	f := startTLSServer(t, Config{HandshakeTimeout: 200 * time.Millisecond, MaxConns: 1}, tls.NoClientCert)
	silent, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server sent bytes to a client that never said hello")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a silent connection was still open after 20s: the handshake has no deadline")
	}
	c := f.goRedis(t, f.clientTLS(t, "", ""))
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil { // the slot frees once the server's goroutine has finished
		if time.Now().After(deadline) {
			t.Fatal("the silent connection's slot was never freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redis-cli --tls, with and without a client certificate.
func TestTLSRedisCLI(t *testing.T) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed (apt-get install redis-tools)")
	}
	f := startTLSServer(t, Config{}, tls.RequireAndVerifyClientCert)
	host, port, _ := strings.Cut(f.addr, ":")
	cli := func(withCert bool, args ...string) (string, error) {
		base := []string{"--tls", "--cacert", f.files.CACert, "-h", host, "-p", port}
		if withCert {
			base = append(base, "--cert", f.files.ClientCert, "--key", f.files.ClientKey)
		}
		out, err := exec.Command("redis-cli", append(base, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	tok, err := cli(true, "SESSIONGATE.START", "k", "60")
	if err != nil || len(tok) != 84 {
		t.Fatalf("redis-cli --tls START: %q %v", tok, err)
	}
	if out, err := cli(true, "SESSIONGATE.PSET", "k", tok, "a", "over tls"); err != nil || out != "OK" {
		t.Fatalf("PSET: %q %v", out, err)
	}
	if out, err := cli(true, "SESSIONGATE.PGET", "k", tok, "a"); err != nil || out != "over tls" {
		t.Fatalf("PGET: %q %v", out, err)
	}
	if out, _ := cli(false, "PING"); out == "PONG" {
		t.Fatal("redis-cli without a client certificate was served where one is required")
	}
}

// redis-py with ssl=True and a client certificate.
func TestTLSRedisPy(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import redis").Run(); err != nil {
		t.Skip("redis-py not installed (apt-get install python3-redis)")
	}
	f := startTLSServer(t, Config{}, tls.RequireAndVerifyClientCert)
	host, port, _ := strings.Cut(f.addr, ":")
	script := `
import redis, sys
host, port, ca, cert, key = sys.argv[1:]
r = redis.Redis(host=host, port=int(port), ssl=True, ssl_ca_certs=ca, ssl_certfile=cert, ssl_keyfile=key)
assert r.ping()
tok = r.execute_command("SESSIONGATE.START", "k", 60)
assert len(tok) == 84, tok
r.execute_command("SESSIONGATE.PSET", "k", tok, "n", b"\x00\xffbinary")
assert r.execute_command("SESSIONGATE.PGET", "k", tok, "n") == b"\x00\xffbinary"
try:
    redis.Redis(host=host, port=int(port), ssl=True, ssl_ca_certs=ca).ping()
    raise SystemExit("served without a client certificate")
except redis.ConnectionError:
    pass
print("ok")
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, host, port, f.files.CACert, f.files.ClientCert, f.files.ClientKey).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("redis-py over TLS: %v\n%s", err, out)
	}
}

// A TLS connection past MaxConns is closed unanswered: answering would need its handshake,
// and a peer that never sends one must not hold up the accept loop.
func TestTLSOverMaxConnsDoesNotBlockAccept(t *testing.T) {
	f := startTLSServer(t, Config{MaxConns: 1}, tls.NoClientCert)
	ctx := context.Background()
	first := f.goRedis(t, f.clientTLS(t, "", ""))
	if err := first.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	silent, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Fatal("bytes sent to a connection over the cap that never said hello")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a connection over the cap was left open")
	}
	first.Close()
	next := f.goRedis(t, f.clientTLS(t, "", ""))
	deadline := time.Now().Add(10 * time.Second)
	for next.Ping(ctx).Err() != nil { // the first's slot frees once its goroutine has finished
		if time.Now().After(deadline) {
			t.Fatal("no client served after the first left: the accept loop is stuck")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A failed handshake (no client certificate where one is required) is a warning; a TCP
// probe that closes before its hello is not.
func TestTLSHandshakeFailuresAreLogged(t *testing.T) {
	var logs syncBuffer
	f := startTLSServer(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, tls.RequireAndVerifyClientCert)
	probe, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	if err := f.goRedis(t, f.clientTLS(t, "", "")).Ping(context.Background()).Err(); err == nil {
		t.Fatal("served without a client certificate")
	}
	// Warnings are rate-limited, so a warning for the probe would take the place of the one
	// for the refused client.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "level=WARN msg=\"tls handshake failed\"") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning for a refused client:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && !strings.Contains(line, "certificate") {
			t.Fatalf("a warning that is not the refused client's:\n%s", logs.String())
		}
	}
}
