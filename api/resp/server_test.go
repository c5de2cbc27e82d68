package resp

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/node"
)

// startServer runs a one-node backend and a RESP server on a free loopback port.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	return startServerOver(t, cfg, func(b api.Backend) api.Backend { return b })
}

// startServerOver is startServer with the node's backend wrapped by wrap (a test's spy).
func startServerOver(t testing.TB, cfg Config, wrap func(api.Backend) api.Backend) (*Server, string) {
	t.Helper()
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sections = func() []api.Section { return api.Sections(n) }
	cfg.Cluster = n.ClusterView
	cfg.Locate = n.Locate
	s := NewServer(cfg, wrap(n))
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		n.Shutdown()
	})
	return s, ln.Addr().String()
}

// rawConn sends raw bytes and reads raw RESP lines, for byte-exact checks.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *rawConn) send(args ...string) {
	var b strings.Builder
	b.WriteString("*" + itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := r.nc.Write([]byte(b.String())); err != nil {
		r.t.Fatal(err)
	}
}

// line reads one reply line (a bulk's payload is read as its own line).
func (r *rawConn) line() string {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// do sends a command and returns its reply: a simple line, or a bulk's contents.
func (r *rawConn) do(args ...string) string {
	r.t.Helper()
	r.send(args...)
	l := r.line()
	if strings.HasPrefix(l, "$") && l != "$-1" {
		return r.line()
	}
	return l
}

func itoa(n int) string { return strconv.Itoa(n) }

func newGoRedis(t testing.TB, addr string, proto int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, DisableIdentity: false})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestGoRedisRESP3AndRESP2(t *testing.T) {
	_, addr := startServer(t, Config{})
	ctx := context.Background()
	for _, proto := range []int{3, 2} {
		c := newGoRedis(t, addr, proto)
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("proto %d ping: %v", proto, err)
		}
		tok, err := c.Do(ctx, "SESSIONGATE.CREATE", "k", 60, "OWNER", "alice", "IP", "1.2.3.4").Text()
		if err != nil || len(tok) != 84 {
			t.Fatalf("proto %d create: %q %v", proto, tok, err)
		}
		if err := c.Do(ctx, "SESSIONGATE.PSET", "k", tok, "a", "1").Err(); err != nil {
			t.Fatal(err)
		}
		all, err := c.Do(ctx, "SESSIONGATE.PGETALL", "k", tok).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch proto {
		case 3:
			m, ok := all.(map[interface{}]interface{})
			if !ok || m["a"] != "1" {
				t.Fatalf("RESP3 PGETALL: %#v", all)
			}
		case 2:
			a, ok := all.([]interface{})
			if !ok || len(a) != 2 || a[1] != "1" {
				t.Fatalf("RESP2 PGETALL: %#v", all)
			}
		}
		info, err := c.Do(ctx, "SESSIONGATE.INFO", "k", tok).Result()
		if err != nil {
			t.Fatal(err)
		}
		if proto == 3 && info.(map[interface{}]interface{})["owner"] != "alice" {
			t.Fatalf("INFO %#v", info)
		}
		if err := c.Do(ctx, "SESSIONGATE.PGET", "k", tok, "missing").Err(); err == nil || err.Error() != "the requested <payload_name> does not exist" {
			t.Fatalf("error text: %v", err)
		}
		if name, err := c.ClientGetName(ctx).Result(); err != redis.Nil || name != "" {
			t.Fatalf("CLIENT GETNAME: %q %v", name, err)
		}
	}
}

func TestGoRedisPipeline(t *testing.T) {
	_, addr := startServer(t, Config{})
	ctx := context.Background()
	c := newGoRedis(t, addr, 2)
	tok, err := c.Do(ctx, "SESSIONGATE.START", "k", 60).Text()
	if err != nil {
		t.Fatal(err)
	}
	pipe := c.Pipeline()
	var gets []*redis.Cmd
	for i := 0; i < 100; i++ {
		pipe.Do(ctx, "SESSIONGATE.PSET", "k", tok, "n", itoa(i))
		gets = append(gets, pipe.Do(ctx, "SESSIONGATE.PGET", "k", tok, "n"))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// Commands on one session keep their order inside a pipeline.
	for i, g := range gets {
		if v, _ := g.Text(); v != itoa(i) {
			t.Fatalf("pipelined read %d saw %q", i, v)
		}
	}
}

func TestAuth(t *testing.T) {
	_, addr := startServer(t, Config{RequirePass: "s3cret"})
	r := dialRaw(t, addr)
	if got := r.do("SESSIONGATE.START", "k", "10"); got != "-NOAUTH Authentication required." {
		t.Fatalf("before auth: %q", got)
	}
	if got := r.do("AUTH", "wrong"); got != "-WRONGPASS invalid username-password pair or user is disabled." {
		t.Fatalf("bad password: %q", got)
	}
	if got := r.do("AUTH", "default", "s3cret"); got != "+OK" {
		t.Fatalf("auth: %q", got)
	}
	if got := r.do("SESSIONGATE.START", "k", "10"); len(got) != 84 {
		t.Fatalf("after auth: %q", got)
	}
	// An unauthenticated connection may not send big requests.
	r2 := dialRaw(t, addr)
	r2.send("AUTH", strings.Repeat("x", 20000))
	if got := r2.line(); got != "-ERR Protocol error: invalid bulk length" {
		t.Fatalf("big unauthenticated bulk: %q", got)
	}
	c := newGoRedis(t, addr, 3)
	if err := c.Ping(context.Background()).Err(); err == nil {
		t.Fatal("go-redis without password got in")
	}
	c2 := redis.NewClient(&redis.Options{Addr: addr, Password: "s3cret"})
	defer c2.Close()
	if err := c2.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("go-redis with password (HELLO 3 AUTH): %v", err)
	}
}

func TestConnectionCommands(t *testing.T) {
	_, addr := startServer(t, Config{})
	r := dialRaw(t, addr)
	cases := [][2][]string{
		{{"PING"}, {"+PONG"}},
		{{"PING", "hi"}, {"hi"}},
		{{"ECHO", "x y"}, {"x y"}},
		{{"SELECT", "0"}, {"+OK"}},
		{{"SELECT", "1"}, {"-ERR DB index is out of range"}},
		{{"CLIENT", "SETNAME", "me"}, {"+OK"}},
		{{"CLIENT", "GETNAME"}, {"me"}},
		{{"COMMAND", "COUNT"}, {":" + itoa(len(commands()))}},
		{{"NOPE", "a"}, {"-ERR unknown command 'NOPE', with args beginning with: 'a' "}},
		{{"HELLO", "4"}, {"-NOPROTO unsupported protocol version"}},
		{{"SESSIONGATE.CLUSTER", "MEMBERS"}, {"-ERR this node runs alone (start it with --cluster-addr to form a cluster)"}},
	}
	for _, c := range cases {
		if got := r.do(c[0]...); got != c[1][0] {
			t.Errorf("%v: got %q, want %q", c[0], got, c[1][0])
		}
	}
	r.send("INFO")
	hdr := r.line()
	buf := make([]byte, 0)
	n := 0
	for _, ch := range hdr[1:] {
		n = n*10 + int(ch-'0')
	}
	for len(buf) < n {
		buf = append(buf, r.line()...)
		buf = append(buf, '\r', '\n')
	}
	r.line() // the bulk's own CRLF
	for _, want := range []string{"# Server", "# Clients", "# Memory", "# Stats", "# Sessions", "sessions:0"} {
		if !strings.Contains(string(buf), want) {
			t.Errorf("INFO lacks %q", want)
		}
	}
	if got := r.do("QUIT"); got != "+OK" {
		t.Fatalf("QUIT: %q", got)
	}
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.br.ReadByte(); err == nil {
		t.Fatal("connection open after QUIT")
	}
}

func TestMaxConnsAndIdleTimeout(t *testing.T) {
	_, addr := startServer(t, Config{MaxConns: 2, IdleTimeout: 300 * time.Millisecond})
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	a.do("PING")
	b.do("PING")
	c := dialRaw(t, addr)
	if got := c.line(); got != "-ERR max number of clients reached" {
		t.Fatalf("third connection: %q", got)
	}
	// a and b go idle and are closed.
	a.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := a.br.ReadByte(); err == nil {
		t.Fatal("idle connection not closed")
	}
}

// A connection that keeps sending is never closed as idle, however short the timeout: the
// read deadline moves lazily, but by less than the timeout.
func TestBusyConnectionOutlivesIdleTimeout(t *testing.T) {
	_, addr := startServer(t, Config{IdleTimeout: 300 * time.Millisecond})
	a := dialRaw(t, addr)
	for i := 0; i < 12; i++ {
		if got := a.do("PING"); got != "+PONG" {
			t.Fatalf("ping %d after %d ms: %q", i, i*100, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// total_commands_processed counts every request of a pipeline (it is added once per pipeline).
func TestInfoCountsPipelinedCommands(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := newGoRedis(t, addr, 2).Conn() // one connection: a new one would add its handshake
	defer c.Close()
	ctx := context.Background()
	count := func() int {
		info, err := c.Info(ctx, "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		t.Fatal("INFO has no total_commands_processed")
		return 0
	}
	before := count()
	pipe := c.Pipeline()
	for i := 0; i < 7; i++ {
		pipe.Ping(ctx)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != before+8 {
		t.Fatalf("total_commands_processed went from %d to %d after 7 pipelined PINGs and an INFO, want +8", before, got)
	}
}
