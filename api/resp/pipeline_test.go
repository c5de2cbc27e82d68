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

func (g *gauge) DoBatch(ctx context.Context, cmds []*sessions.Command) []api.Outcome {
	g.calls.enter()
	defer g.calls.leave()
	g.mu.Lock()
	g.sizes = append(g.sizes, len(cmds))
	g.mu.Unlock()
	if !g.concurrent {
		return g.inner.DoBatch(ctx, cmds)
	}
	out := make([]api.Outcome, len(cmds))
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Result, out[i].Err = g.run(ctx, cmd)
		}()
	}
	wg.Wait()
	return out
}

// serveOver starts a one-node backend, wrapped by wrap, behind a RESP server configured by
// cfg and returns a client of it; everything stops when the test ends.
func serveOver(t *testing.T, cfg Config, wrap func(api.Backend) api.Backend) *redis.Client {
	t.Helper()
	_, addr := startServerOver(t, cfg, wrap)
	return newGoRedis(t, addr, 2)
}

// A pipeline of reads on different sessions reaches the backend whole, in one DoBatch, so that
// a cluster node may run them concurrently; on an Alone server it reaches Do one command after
// another instead. The front end makes one call at a time, and replies keep the pipeline's
// order either way.
func TestPipelineReachesTheBackendWhole(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		var g *gauge
		c := serveOver(t, Config{Alone: !concurrent}, func(n api.Backend) api.Backend {
			g = &gauge{inner: n, concurrent: concurrent, sleepOnRead: 2 * time.Millisecond}
			return g
		})
		ctx := context.Background()
		var toks []string
		for i := 0; i < clockEvery; i++ {
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
		want := []int{len(toks)}
		if !concurrent {
			want = slices.Repeat([]int{1}, len(toks))
		}
		if !slices.Equal(sizes, want) {
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

// clockSpy records the clock reading each command carries to the backend and the time the
// backend got it; each command takes a millisecond, so that readings visibly age.
type clockSpy struct {
	inner api.Backend
	mu    sync.Mutex
	at    []int64
	ran   []int64
	kinds []sessions.Kind
}

func (s *clockSpy) record(cmd *sessions.Command) {
	s.mu.Lock()
	s.at = append(s.at, cmd.At)
	s.ran = append(s.ran, time.Now().UnixMilli())
	s.kinds = append(s.kinds, cmd.Kind)
	s.mu.Unlock()
	time.Sleep(time.Millisecond)
}

func (s *clockSpy) Do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	s.record(cmd)
	return s.inner.Do(ctx, cmd)
}

func (s *clockSpy) DoBatch(ctx context.Context, cmds []*sessions.Command) []api.Outcome {
	for _, cmd := range cmds {
		s.record(cmd)
	}
	return s.inner.DoBatch(ctx, cmds)
}

// An Alone server hands a pipeline's session commands down with one clock reading per
// clockEvery of them, taken after every command before them has run (so no reading is older
// than clockEvery commands), except to other commands (START here), which read their own; any
// other server leaves the clock to the backend (its commands may wait on the network, and a
// reading would go stale).
func TestSharedClockReadings(t *testing.T) {
	for _, share := range []bool{false, true} {
		var spy *clockSpy
		c := serveOver(t, Config{Alone: share}, func(n api.Backend) api.Backend {
			spy = &clockSpy{inner: n}
			return spy
		})
		ctx := context.Background()
		tok, err := c.Do(ctx, "SESSIONGATE.START", "k", 60).Text()
		if err != nil {
			t.Fatal(err)
		}
		spy.mu.Lock()
		spy.at, spy.ran, spy.kinds = nil, nil, nil
		spy.mu.Unlock()
		before := time.Now().UnixMilli()
		pipe := c.Pipeline()
		const n64 = 2*clockEvery + 1
		for i := 0; i < n64; i++ {
			if i == 5 {
				pipe.Do(ctx, "SESSIONGATE.START", "k", 60)
				continue
			}
			pipe.Do(ctx, "SESSIONGATE.PGET", "k", tok, "n")
		}
		pipe.Exec(ctx) // every reply is "no such payload": what is checked is the clock
		after := time.Now().UnixMilli()
		spy.mu.Lock()
		at, ran, kinds := spy.at, spy.ran, spy.kinds
		spy.mu.Unlock()
		if len(at) != n64 {
			t.Fatalf("share=%v: the backend ran %d commands, want %d", share, len(at), n64)
		}
		for i, a := range at {
			if !share && a != 0 {
				t.Fatalf("not shared: command %d carries a clock reading %d", i, a)
			}
			if kinds[i] == sessions.KindStart {
				if a != 0 {
					t.Fatalf("share=%v: START carries the reading %d", share, a)
				}
				continue
			}
			if share && (a < before || a > after) {
				t.Fatalf("shared: command %d carries %d, outside [%d, %d]", i, a, before, after)
			}
			if share && i >= clockEvery && a < ran[i-clockEvery] {
				t.Fatalf("shared: command %d carries %d, read before command %d ran at %d", i, a, i-clockEvery, ran[i-clockEvery])
			}
		}
	}
}

// Replies are written in order as the pipeline runs, so a HELLO 3 in a pipeline switches the
// protocol of the replies after it only: a map before it is still a RESP2 array.
func TestHelloMidPipelineSwitchesOnlyLaterReplies(t *testing.T) {
	for _, share := range []bool{false, true} {
		_, addr := startServer(t, Config{Alone: share})
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
				t.Fatalf("share=%v: PGETALL %d before HELLO 3: %q", share, i, got)
			}
		}
		if got := r.line(); !strings.HasPrefix(got, "%") {
			t.Fatalf("share=%v: HELLO 3 answered %q", share, got)
		}
		for r.line() != "modules" { // the HELLO map's last key, whose value is an empty array
		}
		if got := r.line(); got != "*0" {
			t.Fatalf("share=%v: HELLO's modules: %q", share, got)
		}
		for i := 0; i < 2; i++ {
			if got := []string{r.line(), r.line(), r.line(), r.line(), r.line()}; strings.Join(got, " ") != "%1 $1 a $1 1" {
				t.Fatalf("share=%v: PGETALL %d after HELLO 3: %q", share, i, got)
			}
		}
	}
}

// A run's replies are written only once the whole run has run, so a reply must not change with
// the commands after it: a PGET's payload is the one it read, though a later PSET of the same
// run replaces it.
func TestRunRepliesOutliveLaterWrites(t *testing.T) {
	for _, alone := range []bool{false, true} {
		c := serveOver(t, Config{Alone: alone}, func(b api.Backend) api.Backend { return b })
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
				t.Errorf("alone=%v: reply %d is %q, want %q", alone, i, got, want)
			}
		}
	}
}
