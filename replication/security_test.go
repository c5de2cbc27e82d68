package replication

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/clusterkey"
)

// countHandler echoes like echoHandler and counts the calls it served.
type countHandler struct{ calls atomic.Int64 }

func (h *countHandler) ServeCall(ctx context.Context, m Method, dec *msgpack.Decoder) (any, error) {
	h.calls.Add(1)
	return echoHandler{}.ServeCall(ctx, m, dec)
}

func mustKeys(t testing.TB, secrets ...string) []clusterkey.Key {
	t.Helper()
	var out []clusterkey.Key
	for _, s := range secrets {
		k, err := clusterkey.New([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

const (
	secretA = "secret-A-0123456789abcdef"
	secretB = "secret-B-0123456789abcdef"
)

// syncBuf is a log destination tests read while the server writes to it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func serveSecure(t *testing.T, cfg ServerConfig) (*Server, string, *countHandler, *syncBuf) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	h := &countHandler{}
	s := NewServer(cfg, h)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String(), h, logs
}

func call(c *Client, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var resp echoResp
	if err := c.Call(ctx, addr, 2, echoReq{N: 21}, &resp); err != nil {
		return err
	}
	if resp.N != 42 {
		return errors.New("wrong answer")
	}
	return nil
}

func TestKeyedLinkCarriesCallsAndNamesThePeer(t *testing.T) {
	_, addr, h, _ := serveSecure(t, ServerConfig{Security: &Security{Name: "server-1", Keys: mustKeys(t, secretA)}})
	c := NewClient(ClientConfig{Security: &Security{Name: "client-1", Keys: mustKeys(t, secretA)}})
	defer c.Close()
	for range 3 {
		if err := call(c, addr); err != nil {
			t.Fatal(err)
		}
	}
	name, err := c.Identify(context.Background(), addr)
	if err != nil || name != "server-1" {
		t.Fatalf("Identify = %q, %v; want server-1", name, err)
	}
	if h.calls.Load() != 3 {
		t.Fatalf("%d calls served, want 3", h.calls.Load())
	}
}

// A node holding a new and an old secret talks to nodes holding either: the way a rolling
// restart moves a cluster from one secret to the next.
func TestLinksUseTheNewestSecretBothHold(t *testing.T) {
	for _, tc := range []struct {
		name           string
		client, server []string
		ok             bool
	}{
		{"same secret", []string{secretA}, []string{secretA}, true},
		{"restarted client", []string{secretB, secretA}, []string{secretA}, true},
		{"restarted server", []string{secretA}, []string{secretB, secretA}, true},
		{"both restarted", []string{secretB, secretA}, []string{secretB, secretA}, true},
		{"old one retired", []string{secretB}, []string{secretB, secretA}, true},
		{"nothing in common", []string{secretB}, []string{secretA}, false},
		{"insecure client", nil, []string{secretA}, false},
		{"insecure server", []string{secretA}, nil, false},
		{"both insecure", nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, h, _ := serveSecure(t, ServerConfig{Security: &Security{Name: "s", Keys: mustKeys(t, tc.server...)}})
			c := NewClient(ClientConfig{Security: &Security{Name: "c", Keys: mustKeys(t, tc.client...)}})
			defer c.Close()
			err := call(c, addr)
			if tc.ok && err != nil {
				t.Fatalf("call failed: %v", err)
			}
			if !tc.ok {
				// An insecure client sends no handshake: the server's refusal is a lost connection.
				if !errors.Is(err, ErrUnavailable) || tc.client != nil && !errors.Is(err, ErrHandshake) {
					t.Fatalf("call: %v, want a failed handshake", err)
				}
				if h.calls.Load() != 0 {
					t.Fatal("the server ran a call from a peer that failed the handshake")
				}
			}
		})
	}
}

// A stranger on the replication port, knowing the protocol but not the secret, is
// disconnected without a frame read, and its attempt is logged.
func TestStrangerIsDisconnectedAndLogged(t *testing.T) {
	_, addr, h, logs := serveSecure(t, ServerConfig{Security: &Security{Name: "s", Keys: mustKeys(t, secretA)}})

	// Frames written straight away, as before there were handshakes.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.Write(requestFrame(t, 1, 2))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 64)); err == nil || isTimeout(err) {
		t.Fatalf("read %d bytes, %v: the stranger was answered or kept", n, err)
	}
	nc.Close()

	// A well-formed hello offering a key id it made up, then a guessed proof.
	nc, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hello := append([]byte(magic), make([]byte, nonceLen)...)
	hello = append(hello, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8)
	nc.Write(hello)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(nc); len(b) != 0 || isTimeout(err) {
		t.Fatalf("got %d bytes, %v: the stranger was answered or kept", len(b), err)
	}
	nc.Close()

	if h.calls.Load() != 0 {
		t.Fatal("a stranger's frame was served")
	}
	if !strings.Contains(logs.String(), "replication connection refused") {
		t.Fatalf("no refusal logged:\n%s", logs)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// recordingConn keeps what its writer sent, for replay.
type recordingConn struct {
	net.Conn
	mu   sync.Mutex
	sent []byte
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.sent = append(r.sent, p...)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

// Bytes a member sent, captured and replayed to the server on a new connection by someone
// who does not hold the secret, get no answer and run nothing.
func TestReplayedBytesHaveNoEffect(t *testing.T) {
	_, addr, h, _ := serveSecure(t, ServerConfig{Security: &Security{Name: "s", Keys: mustKeys(t, secretA)}})
	var rec *recordingConn
	c := NewClient(ClientConfig{Security: &Security{Name: "c", Keys: mustKeys(t, secretA)},
		Dial: func(ctx context.Context, a string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", a)
			rec = &recordingConn{Conn: nc}
			return rec, err
		}})
	defer c.Close()
	for range 5 {
		if err := call(c, addr); err != nil {
			t.Fatal(err)
		}
	}
	rec.mu.Lock()
	captured := bytes.Clone(rec.sent)
	rec.mu.Unlock()
	// The request's msgpack names its fields; a sealed link shows none of them.
	if bytes.Contains(captured, []byte("Sleep")) {
		t.Fatal("the request travelled in clear")
	}

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write(captured)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(nc)
	// The server answers a hello with its own, which holds a fresh nonce; nothing after.
	if len(got) > len(magic)+1+nonceLen+2+len("s")+8+proofLen {
		t.Fatalf("the replay got %d bytes back: more than a server hello", len(got))
	}
	if h.calls.Load() != 5 {
		t.Fatalf("%d calls served, want the 5 real ones", h.calls.Load())
	}
}

// flipConn flips one bit of the first write after the handshake's two.
type flipConn struct {
	net.Conn
	writes int
}

func (f *flipConn) Write(p []byte) (int, error) {
	f.writes++
	if f.writes == 3 && len(p) > 0 {
		q := bytes.Clone(p)
		q[len(q)-1] ^= 1
		return f.Conn.Write(q)
	}
	return f.Conn.Write(p)
}

// A sealed record changed on the way fails to open: the server runs nothing and drops the link.
func TestTamperedRecordClosesTheLink(t *testing.T) {
	_, addr, h, _ := serveSecure(t, ServerConfig{Security: &Security{Name: "s", Keys: mustKeys(t, secretA)}})
	c := NewClient(ClientConfig{Security: &Security{Name: "c", Keys: mustKeys(t, secretA)}, RetryBackoff: time.Millisecond,
		Dial: func(ctx context.Context, a string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", a)
			return &flipConn{Conn: nc}, err
		}})
	defer c.Close()
	if err := call(c, addr); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("tampered call: %v, want ErrUnavailable", err)
	}
	if h.calls.Load() != 0 {
		t.Fatal("a tampered record was served")
	}
}

// A connection that starts a handshake and stops is closed after the handshake timeout, and
// one over the cap of pending handshakes at once; members still get through afterwards.
func TestHandshakesAreBoundedInTimeAndNumber(t *testing.T) {
	_, addr, _, _ := serveSecure(t, ServerConfig{Security: &Security{Name: "s", Keys: mustKeys(t, secretA)},
		HandshakeTimeout: 300 * time.Millisecond, MaxHandshakes: 4})
	var idle []net.Conn
	for range 4 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write([]byte("SG"))
		idle = append(idle, nc)
	}
	time.Sleep(50 * time.Millisecond) // let the server take the four
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	extra.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
	if _, err := extra.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("a fifth pending handshake was kept: %v", err)
	}
	for _, nc := range idle {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("a stalled handshake outlived its timeout: %v", err)
		}
		nc.Close()
	}
	c := NewClient(ClientConfig{Security: &Security{Name: "c", Keys: mustKeys(t, secretA)}})
	defer c.Close()
	if err := call(c, addr); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticatedConnectionsAreCapped(t *testing.T) {
	_, addr, _, logs := serveSecure(t, ServerConfig{Security: &Security{Name: "s", Keys: mustKeys(t, secretA)}, MaxConns: 2})
	var clients []*Client
	for i := range 3 {
		c := NewClient(ClientConfig{Security: &Security{Name: "c", Keys: mustKeys(t, secretA)}})
		defer c.Close()
		err := call(c, addr)
		if i < 2 && err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if i == 2 && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("third client: %v, want ErrUnavailable", err)
		}
		clients = append(clients, c)
	}
	if !strings.Contains(logs.String(), "too many") {
		t.Fatalf("no refusal logged:\n%s", logs)
	}
	clients[0].Close()
	time.Sleep(100 * time.Millisecond) // the server notices the close
	c := NewClient(ClientConfig{Security: &Security{Name: "c", Keys: mustKeys(t, secretA)}})
	defer c.Close()
	if err := call(c, addr); err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
}

// A thousand connections each announcing the largest frame and sending a few bytes of it
// make the server allocate for the bytes that came, not for the announced sizes.
func TestFrameClaimsDoNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 sockets")
	}
	s, addr, _, _ := serveSecure(t, ServerConfig{})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	claim := requestFrame(t, 1, 2)[:headerLen]
	claim[0], claim[1], claim[2], claim[3] = 0x04, 0, 0, 0 // 64 MiB
	for range n {
		nc, err := dialRaw(addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(append(bytes.Clone(claim), "a few bytes"...))
		conns = append(conns, nc)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.mu.Lock()
		k := len(s.conns)
		s.mu.Unlock()
		if k == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the readers take their claims
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap grew %d MiB for %d connections", grown>>20, n)
	if grown > 200<<20 {
		t.Fatalf("heap grew %d MiB for %d connections claiming 64 MiB frames", grown>>20, n)
	}
	c := NewClient(ClientConfig{})
	defer c.Close()
	if err := call(c, addr); err != nil {
		t.Fatal(err)
	}
}

// An insecure link speaks the frames of nodes from before the handshake (a rolling upgrade of
// a cluster without a secret), while a node with a secret refuses them.
func TestInsecureLinksSpeakThePreviousProtocol(t *testing.T) {
	_, insecure, _, _ := serveSecure(t, ServerConfig{})
	_, keyed, h, _ := serveSecure(t, ServerConfig{Security: &Security{Name: "s", Keys: mustKeys(t, secretA)}})
	for _, tc := range []struct {
		addr string
		ok   bool
	}{{insecure, true}, {keyed, false}} {
		nc, err := net.Dial("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(requestFrame(t, 7, 2))
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		f, err := readFrame(bufio.NewReader(nc), 1<<20)
		nc.Close()
		if tc.ok && (err != nil || f.id != 7 || f.kind != kindOK) {
			t.Fatalf("an old node's frame to an insecure node: %+v, %v", f, err)
		}
		if !tc.ok && err == nil {
			t.Fatalf("a node with a secret answered frames without a handshake: %+v", f)
		}
	}
	if h.calls.Load() != 0 {
		t.Fatal("the keyed server ran a call")
	}
}
