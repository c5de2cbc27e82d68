package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails its first fails accepts with EMFILE, as accept4 does out of descriptors.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func serverTLS(t *testing.T) (*tls.Config, *tls.Config) {
	t.Helper()
	f := devFiles(t)
	cert, err := tls.LoadX509KeyPair(f.NodeCert, f.NodeKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(f.CACert)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, &tls.Config{RootCAs: roots}
}

// net/http keeps serving through EMFILE from the listener under HTTPS: the error reaches it
// unchanged, so it backs off and accepts again instead of returning.
func TestHTTPSOutlivesAcceptErrors(t *testing.T) {
	srvCfg, cliCfg := serverTLS(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newHandshakeListener(&flakyListener{Listener: inner, fails: 3}, srvCfg, 5*time.Second, 4, nil)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	defer hs.Close()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cliCfg}}
	resp, err := hc.Get("https://" + inner.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v", err)
	default:
	}
	hs.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

// Past maxPending handshakes in progress a new connection is closed at once; a silent one is
// closed when its handshake times out.
func TestHandshakeListenerBounds(t *testing.T) {
	srvCfg, _ := serverTLS(t)
	closedSoon := func(name string, c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s connection still open: %v", name, err)
		}
	}
	dial := func(ln net.Listener) net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	listen := func(timeout time.Duration, maxPending int) *handshakeListener {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln := newHandshakeListener(inner, srvCfg, timeout, maxPending, nil)
		t.Cleanup(func() { ln.Close() })
		return ln
	}
	capped := listen(time.Hour, 1)
	dial(capped)
	for len(capped.pending) == 0 { // until the listener has taken the first into its only slot
		time.Sleep(5 * time.Millisecond)
	}
	closedSoon("over the cap", dial(capped))
	closedSoon("silent", dial(listen(300*time.Millisecond, 4)))
}
