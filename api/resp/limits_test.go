package resp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
)

// startNodeServer runs a RESP server over a node made with ncfg.
func startNodeServer(t *testing.T, cfg Config, ncfg node.Config) string {
	t.Helper()
	n, err := node.Create(ncfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sections = func() []api.Section { return api.Sections(n) }
	s := NewServer(cfg, n)
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		n.Shutdown()
	})
	return ln.Addr().String()
}

// guardLog is a log destination the server's goroutines may write to.
type guardLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *guardLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *guardLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// An HTTP request sent to the RESP port closes the connection at once, with no reply and
// without running anything it carries, authenticated or not; the server warns once a
// minute, and other clients go on being served.
func TestCrossProtocolGuard(t *testing.T) {
	for _, pass := range []string{"", "secret"} {
		t.Run("requirepass="+pass, func(t *testing.T) {
			var logs guardLog
			addr := startNodeServer(t, Config{RequirePass: pass, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, node.Config{})
			rdb := redis.NewClient(&redis.Options{Addr: addr, Password: pass, PoolSize: 1})
			defer rdb.Close()
			ctx := context.Background()
			if err := rdb.Ping(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			body := "SESSIONGATE.START k 60\r\n"
			for _, req := range []string{
				"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body,
				"Host: x\r\n" + body,
				"*2\r\n$4\r\npost\r\n$1\r\n/\r\n" + "*3\r\n$17\r\nSESSIONGATE.START\r\n$1\r\nk\r\n$2\r\n60\r\n",
			} {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := nc.Write([]byte(req)); err != nil {
					t.Fatal(err)
				}
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				got, err := io.ReadAll(nc)
				nc.Close()
				if err != nil || len(got) != 0 {
					t.Fatalf("%q: read %q, %v; want the connection closed without a reply", req, got, err)
				}
			}
			info, err := rdb.Info(ctx, "sessions").Result()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(info, "\r\nsessions:0\r\n") {
				t.Fatalf("a command after the HTTP request ran:\n%s", info)
			}
			if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "cross-protocol") {
				t.Fatalf("want one warning for three attempts within a minute, got:\n%s", logs.String())
			}
		})
	}
}

// Commands before the HTTP request line in the same read are answered, as Redis answers
// them; the connection closes at the request line.
func TestCrossProtocolAfterCommands(t *testing.T) {
	addr := startNodeServer(t, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, node.Config{})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("PING\r\nPOST / HTTP/1.1\r\nPING\r\n"))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(nc)
	if err != nil || string(got) != "+PONG\r\n" {
		t.Fatalf("read %q, %v; want one PONG, then the connection closed", got, err)
	}
}

// Past --maxmemory, what grows the store gets Redis's OOM error and changes nothing, while
// reads, PDEL, EXPIRE and ends work and free memory; INFO shows usage against the limit.
func TestMaxMemoryOverRESP(t *testing.T) {
	const limit = 64 << 10
	addr := startNodeServer(t, Config{}, node.Config{Store: sessions.Config{MaxMemory: limit}})
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	ctx := context.Background()
	big := strings.Repeat("x", 4000)
	var toks []string
	var err error
	for err == nil && len(toks) < 1000 {
		var tok string
		if tok, err = rdb.Do(ctx, "SESSIONGATE.CREATE", "k", "600", "OWNER", "u1").Text(); err == nil {
			toks = append(toks, tok)
			err = rdb.Do(ctx, "SESSIONGATE.PSET", "k", tok, "p", big).Err()
		}
	}
	if err == nil || err.Error() != errOOM {
		t.Fatalf("after %d sessions: %v, want %q", len(toks), err, errOOM)
	}
	tok := toks[0]
	for _, args := range [][]any{
		{"SESSIONGATE.START", "k", "60"},
		{"SESSIONGATE.CREATE", "k", "60", "OWNER", "u2"},
		{"SESSIONGATE.PSET", "k", tok, "q", "1"},
		{"SESSIONGATE.PUPDATE", "k", tok, "DEL", "p", "SET", "q", "1"},
		{"SESSIONGATE.ROTATE", "k", tok},
	} {
		if err := rdb.Do(ctx, args...).Err(); err == nil || err.Error() != errOOM {
			t.Fatalf("%v: %v, want %q", args, err, errOOM)
		}
	}
	if got, err := rdb.Do(ctx, "SESSIONGATE.PGET", "k", tok, "p").Text(); err != nil || got != big {
		t.Fatalf("PGET after refusals: %d bytes, %v", len(got), err)
	}
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\r\nmaxmemory:65536\r\n", "\r\nmaxmemory_human:64.00K\r\n", "\r\nmaxmemory_policy:noeviction\r\n"} {
		if !strings.Contains(info, want) {
			t.Fatalf("INFO memory lacks %q:\n%s", want, info)
		}
	}
	if used := infoField(info, "used_memory"); used <= limit {
		t.Fatalf("used_memory %d, want past %d:\n%s", used, limit, info)
	}
	for _, args := range [][]any{
		{"SESSIONGATE.EXPIRE", "k", tok, "1200"},
		{"SESSIONGATE.PDEL", "k", tok, "p"},
		{"SESSIONGATE.PUPDATE", "k", toks[1], "DEL", "p"},
		{"SESSIONGATE.END", "k", toks[2]},
		{"SESSIONGATE.ENDOWNER", "k", "u1"},
	} {
		if err := rdb.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	info, _ = rdb.Info(ctx, "memory").Result()
	if used := infoField(info, "used_memory"); used > limit {
		t.Fatalf("used_memory %d after the ends, want at most %d", used, limit)
	}
	if err := rdb.Do(ctx, "SESSIONGATE.START", "k", "60").Err(); err != nil {
		t.Fatalf("START once memory was freed: %v", err)
	}
}

// infoField reads an integer field of an INFO reply.
func infoField(info, name string) int64 {
	var n int64
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			fmt.Sscan(v, &n)
		}
	}
	return n
}

// A 200k-step PUPDATE is refused with the step cap and leaves the session as it was; a
// PSET past the payload cap is refused the same way.
func TestUpdateCapsOverRESP(t *testing.T) {
	addr := startNodeServer(t, Config{}, node.Config{})
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	defer rdb.Close()
	ctx := context.Background()
	tok, err := rdb.Do(ctx, "SESSIONGATE.START", "k", "600").Text()
	if err != nil {
		t.Fatal(err)
	}
	steps := func(n int) []any {
		args := []any{"SESSIONGATE.PUPDATE", "k", tok}
		for i := range n {
			args = append(args, "SET", fmt.Sprintf("key-%07d", i), "v")
		}
		return args
	}
	want := "the number of steps exceeds the maximum value allowed of 10000"
	if err := rdb.Do(ctx, steps(200_000)...).Err(); err == nil || err.Error() != want {
		t.Fatalf("200k steps: %v, want %q", err, want)
	}
	if n, err := rdb.Do(ctx, "SESSIONGATE.PGETALL", "k", tok).Slice(); err != nil || len(n) != 0 {
		t.Fatalf("after a refused PUPDATE: %v, %v; want no payloads", n, err)
	}
	if err := rdb.Do(ctx, steps(sessions.MaxPayloads)...).Err(); err != nil {
		t.Fatalf("a PUPDATE at the caps: %v", err)
	}
	want = "the session already has the maximum of 10000 payloads"
	if err := rdb.Do(ctx, "SESSIONGATE.PSET", "k", tok, "one-more", "v").Err(); err == nil || err.Error() != want {
		t.Fatalf("PSET past the payload cap: %v, want %q", err, want)
	}
	if err := rdb.Do(ctx, "SESSIONGATE.PGET", "k", tok, "one-more").Err(); err == nil {
		t.Fatal("a refused PSET stored its payload")
	}
}

// updateSpy counts the PUPDATEs that reach the backend.
type updateSpy struct {
	api.Backend
	updates atomic.Int32
}

func (s *updateSpy) Do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	if cmd.Kind == sessions.KindPUpdate {
		s.updates.Add(1)
	}
	return s.Backend.Do(ctx, cmd)
}

// DoBatch counts the PUPDATEs of a pipeline's run, which reach the backend this way.
func (s *updateSpy) DoBatch(ctx context.Context, cmds []*sessions.Command, out []api.Outcome) {
	for _, cmd := range cmds {
		if cmd.Kind == sessions.KindPUpdate {
			s.updates.Add(1)
		}
	}
	s.Backend.DoBatch(ctx, cmds, out)
}

// A PUPDATE past the step cap is refused with its arguments: it never reaches the backend
// (which would forward it to its primary in a cluster).
func TestPUpdateStepCapBeforeTheBackend(t *testing.T) {
	var spy *updateSpy
	rdb := serveOver(t, Config{}, func(b api.Backend) api.Backend { spy = &updateSpy{Backend: b}; return spy })
	ctx := context.Background()
	tok, err := rdb.Do(ctx, "SESSIONGATE.START", "k", "600").Text()
	if err != nil {
		t.Fatal(err)
	}
	args := []any{"SESSIONGATE.PUPDATE", "k", tok}
	for i := range sessions.MaxUpdateSteps + 1 {
		args = append(args, "DEL", fmt.Sprint(i))
	}
	if err := rdb.Do(ctx, args...).Err(); err == nil || err.Error() != errSteps(sessions.MaxUpdateSteps) {
		t.Fatalf("%d steps: %v", sessions.MaxUpdateSteps+1, err)
	}
	if n := spy.updates.Load(); n != 0 {
		t.Fatalf("%d PUPDATEs reached the backend, want none", n)
	}
	if err := rdb.Do(ctx, args[:len(args)-2]...).Err(); err != nil || spy.updates.Load() != 1 {
		t.Fatalf("a PUPDATE at the cap: %v, %d at the backend", err, spy.updates.Load())
	}
}
