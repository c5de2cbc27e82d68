package resp

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiongate/sessiongate/sessions"
)

// gauge is a backend that records how many commands it ran at once.
type gauge struct {
	inner       Backend
	now, most   atomic.Int32
	sleepOnRead time.Duration
}

func (g *gauge) Do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	n := g.now.Add(1)
	defer g.now.Add(-1)
	for {
		m := g.most.Load()
		if n <= m || g.most.CompareAndSwap(m, n) {
			break
		}
	}
	if cmd.Kind == sessions.KindPGet {
		time.Sleep(g.sleepOnRead)
	}
	return g.inner.Do(ctx, cmd)
}

// serveOver starts a one-node backend, wrapped by wrap, behind a RESP server (Sequential or
// not) and returns a client of it; everything stops when the test ends.
func serveOver(t *testing.T, seq bool, wrap func(Backend) Backend) *redis.Client {
	t.Helper()
	_, addr := startServerOver(t, Config{Sequential: seq}, wrap)
	return newGoRedis(t, addr, 2)
}

// A pipeline of reads on different sessions runs concurrently by default (so a forwarding
// node keeps its throughput) and one after another with Sequential, in order either way.
func TestSequentialPipelines(t *testing.T) {
	for _, seq := range []bool{false, true} {
		var g *gauge
		c := serveOver(t, seq, func(n Backend) Backend {
			g = &gauge{inner: n, sleepOnRead: 2 * time.Millisecond}
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
		g.most.Store(0)
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
				t.Fatalf("sequential=%v: reply %d is %q", seq, i, v)
			}
		}
		most := g.most.Load()
		if seq && most != 1 {
			t.Errorf("sequential: %d commands ran at once", most)
		}
		if !seq && most < 2 {
			t.Errorf("concurrent: at most %d command ran at once", most)
		}
	}
}

// clockSpy records the clock reading each command carries to the backend.
type clockSpy struct {
	inner Backend
	mu    sync.Mutex
	at    []int64
	kinds []sessions.Kind
}

func (s *clockSpy) Do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	s.mu.Lock()
	s.at = append(s.at, cmd.At)
	s.kinds = append(s.kinds, cmd.Kind)
	s.mu.Unlock()
	return s.inner.Do(ctx, cmd)
}

// A Sequential server reads the clock once per clockEvery session commands of a pipeline and
// hands the reading down, except to other commands (START here), which read their own; any
// other server leaves the clock to the backend (its commands may wait on the network, and a
// reading would go stale).
func TestSequentialSharesClockReadings(t *testing.T) {
	for _, seq := range []bool{false, true} {
		var spy *clockSpy
		c := serveOver(t, seq, func(n Backend) Backend {
			spy = &clockSpy{inner: n}
			return spy
		})
		ctx := context.Background()
		tok, err := c.Do(ctx, "SESSIONGATE.START", "k", 60).Text()
		if err != nil {
			t.Fatal(err)
		}
		spy.mu.Lock()
		spy.at, spy.kinds = nil, nil
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
		at, kinds := spy.at, spy.kinds
		spy.mu.Unlock()
		if len(at) != n64 {
			t.Fatalf("sequential=%v: the backend ran %d commands, want %d", seq, len(at), n64)
		}
		for i, a := range at {
			if !seq && a != 0 {
				t.Fatalf("concurrent: command %d carries a clock reading %d", i, a)
			}
			if kinds[i] == sessions.KindStart {
				if a != 0 {
					t.Fatalf("sequential=%v: START carries the reading %d", seq, a)
				}
				continue
			}
			if seq && (a < before || a > after) {
				t.Fatalf("sequential: command %d carries %d, outside [%d, %d]", i, a, before, after)
			}
		}
	}
}
