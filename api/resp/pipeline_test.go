package resp

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
)

// peak tracks how many of something are under way at once, and the most there were.
type peak struct{ now, most atomic.Int32 }

func (p *peak) enter() {
	n := p.now.Add(1)
	for {
		m := p.most.Load()
		if n <= m || p.most.CompareAndSwap(m, n) {
			return
		}
	}
}

func (p *peak) leave() { p.now.Add(-1) }

// gauge is a backend that records how many calls the front end makes at once, the size of
// every call (1 for Do), and, when concurrent is set, runs a batch's commands each on a goroutine of
// its own (as a cluster node may for commands on different slots), recording how many ran
// at once.
type gauge struct {
	inner       api.Backend
	concurrent  bool
	sleepOnRead time.Duration
	calls, cmds peak
	mu          sync.Mutex
	sizes       []int
}

func (g *gauge) Do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	g.calls.enter()
	defer g.calls.leave()
	g.mu.Lock()
	g.sizes = append(g.sizes, 1)
	g.mu.Unlock()
	return g.run(ctx, cmd)
}

func (g *gauge) run(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	g.cmds.enter()
	defer g.cmds.leave()
	if cmd.Kind == sessions.KindPGet {
		time.Sleep(g.sleepOnRead)
	}
	return g.inner.Do(ctx, cmd)
}

func (g *gauge) DoBatch(ctx context.Context, cmds []*sessions.Command, out []api.Outcome) {
	g.calls.enter()
	defer g.calls.leave()
	g.mu.Lock()
	g.sizes = append(g.sizes, len(cmds))
	g.mu.Unlock()
	if !g.concurrent {
		for i, cmd := range cmds {
			out[i].Result, out[i].Err = g.run(ctx, cmd)
		}
		return
	}
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Result, out[i].Err = g.run(ctx, cmd)
		}()
	}
	wg.Wait()
}

// serveOver starts a one-node backend, wrapped by wrap, behind a RESP server configured by
// cfg and returns a client of it; everything stops when the test ends.
func serveOver(t *testing.T, cfg Config, wrap func(api.Backend) api.Backend) *redis.Client {
	t.Helper()
	_, addr := startServerOver(t, cfg, wrap)
	return newGoRedis(t, addr, 2)
}

// A pipeline of reads on different sessions reaches the backend whole, in one DoBatch, whether
// the backend runs them one after another (a node alone) or concurrently (a cluster node may,
// for commands on different slots). The front end makes one call at a time, and replies keep
// the pipeline's order either way.
func TestPipelineReachesTheBackendWhole(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		var g *gauge
		c := serveOver(t, Config{}, func(n api.Backend) api.Backend {
			g = &gauge{inner: n, concurrent: concurrent, sleepOnRead: 2 * time.Millisecond}
			return g
		})
		ctx := context.Background()
		var toks []string
		for i := 0; i < 32; i++ {
			tok, err := c.Do(ctx, "SESSIONGATE.START", "k", 60).Text()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Do(ctx, "SESSIONGATE.PSET", "k", tok, "n", itoa(i)).Err(); err != nil {
				t.Fatal(err)
			}
			toks = append(toks, tok)
		}
		g.cmds.most.Store(0)
		g.mu.Lock()
		g.sizes = nil
		g.mu.Unlock()
		pipe := c.Pipeline()
		for _, tok := range toks {
			pipe.Do(ctx, "SESSIONGATE.PGET", "k", tok, "n")
		}
		cmds, err := pipe.Exec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, cmd := range cmds {
			if v, _ := cmd.(interface{ Text() (string, error) }).Text(); v != itoa(i) {
				t.Fatalf("concurrent=%v: reply %d is %q", concurrent, i, v)
			}
		}
		g.mu.Lock()
		sizes := g.sizes
		g.mu.Unlock()
		if want := []int{len(toks)}; !slices.Equal(sizes, want) {
			t.Errorf("concurrent=%v: calls of sizes %v, want %v", concurrent, sizes, want)
		}
		if most := g.calls.most.Load(); most != 1 {
			t.Errorf("concurrent=%v: the front end made %d calls at once", concurrent, most)
		}
		if most := g.cmds.most.Load(); concurrent && most < 2 {
			t.Errorf("concurrent: at most %d command ran at once", most)
		} else if !concurrent && most != 1 {
			t.Errorf("alone: %d commands ran at once", most)
		}
	}
}

// clockSpy records the clock reading each command carries to the backend.
type clockSpy struct {
	inner api.Backend
	mu    sync.Mutex
	at    []int64
}

func (s *clockSpy) record(cmd *sessions.Command) {
	s.mu.Lock()
	s.at = append(s.at, cmd.At)
	s.mu.Unlock()
}

func (s *clockSpy) Do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	s.record(cmd)
	return s.inner.Do(ctx, cmd)
}

func (s *clockSpy) DoBatch(ctx context.Context, cmds []*sessions.Command, out []api.Outcome) {
	for _, cmd := range cmds {
		s.record(cmd)
	}
	s.inner.DoBatch(ctx, cmds, out)
}

// The front end leaves the clock to the backend: a command that waits on the network would
// carry a stale reading, and only the backend knows whether it may (a node alone shares one
// reading among several commands of a batch itself).
func TestFrontEndLeavesTheClockToTheBackend(t *testing.T) {
	var spy *clockSpy
	c := serveOver(t, Config{}, func(n api.Backend) api.Backend {
		spy = &clockSpy{inner: n}
		return spy
	})
	ctx := context.Background()
	tok, err := c.Do(ctx, "SESSIONGATE.START", "k", 60).Text()
	if err != nil {
		t.Fatal(err)
	}
	pipe := c.Pipeline()
	for i := 0; i < 65; i++ {
		if i == 5 {
			pipe.Do(ctx, "SESSIONGATE.START", "k", 60)
			continue
		}
		pipe.Do(ctx, "SESSIONGATE.PGET", "k", tok, "n")
	}
	pipe.Exec(ctx) // every reply is "no such payload": what is checked is the clock
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.at) != 66 {
		t.Fatalf("the backend ran %d commands, want 66", len(spy.at))
	}
	for i, a := range spy.at {
		if a != 0 {
			t.Fatalf("command %d reached the backend with the clock reading %d", i, a)
		}
	}
}

// Replies are written in order as the pipeline runs, so a HELLO 3 in a pipeline switches the
// protocol of the replies after it only: a map before it is still a RESP2 array.
func TestHelloMidPipelineSwitchesOnlyLaterReplies(t *testing.T) {
	_, addr := startServer(t, Config{})
	r := dialRaw(t, addr)
	tok := r.do("SESSIONGATE.START", "k", "60")
	if got := r.do("SESSIONGATE.PSET", "k", tok, "a", "1"); got != "+OK" {
		t.Fatalf("PSET: %q", got)
	}
	var b strings.Builder
	for _, args := range [][]string{
		{"SESSIONGATE.PGETALL", "k", tok}, {"SESSIONGATE.PGETALL", "k", tok},
		{"HELLO", "3"},
		{"SESSIONGATE.PGETALL", "k", tok}, {"SESSIONGATE.PGETALL", "k", tok},
	} {
		b.WriteString("*" + itoa(len(args)) + "\r\n")
		for _, a := range args {
			b.WriteString("$" + itoa(len(a)) + "\r\n" + a + "\r\n")
		}
	}
	if _, err := r.nc.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if got := []string{r.line(), r.line(), r.line(), r.line(), r.line()}; strings.Join(got, " ") != "*2 $1 a $1 1" {
			t.Fatalf("PGETALL %d before HELLO 3: %q", i, got)
		}
	}
	if got := r.line(); !strings.HasPrefix(got, "%") {
		t.Fatalf("HELLO 3 answered %q", got)
	}
	for r.line() != "modules" { // the HELLO map's last key, whose value is an empty array
	}
	if got := r.line(); got != "*0" {
		t.Fatalf("HELLO's modules: %q", got)
	}
	for i := 0; i < 2; i++ {
		if got := []string{r.line(), r.line(), r.line(), r.line(), r.line()}; strings.Join(got, " ") != "%1 $1 a $1 1" {
			t.Fatalf("PGETALL %d after HELLO 3: %q", i, got)
		}
	}
}

// A run's replies are written only once the whole run has run, so a reply must not change with
// the commands after it: a PGET's payload is the one it read, though a later PSET of the same
// run replaces it.
func TestRunRepliesOutliveLaterWrites(t *testing.T) {
	c := serveOver(t, Config{}, func(b api.Backend) api.Backend { return b })
	ctx := context.Background()
	tok, err := c.Do(ctx, "SESSIONGATE.START", "k", 60).Text()
	if err != nil {
		t.Fatal(err)
	}
	pipe := c.Pipeline()
	for _, v := range []string{"first", "second", "third"} {
		pipe.Do(ctx, "SESSIONGATE.PSET", "k", tok, "a", v)
		pipe.Do(ctx, "SESSIONGATE.PGET", "k", tok, "a")
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"OK", "first", "OK", "second", "OK", "third"} {
		if got, _ := cmds[i].(interface{ Text() (string, error) }).Text(); got != want {
			t.Errorf("reply %d is %q, want %q", i, got, want)
		}
	}

}
