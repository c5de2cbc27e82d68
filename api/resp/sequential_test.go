package resp

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/node"
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

// A pipeline of reads on different sessions runs concurrently by default (so a forwarding
// node keeps its throughput) and one after another with Sequential, in order either way.
func TestSequentialPipelines(t *testing.T) {
	for _, seq := range []bool{false, true} {
		n, err := node.Create(node.Config{})
		if err != nil {
			t.Fatal(err)
		}
		g := &gauge{inner: n, sleepOnRead: 2 * time.Millisecond}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := NewServer(Config{Sequential: seq}, g)
		go s.Serve(ln)
		c := newGoRedis(t, ln.Addr().String(), 2)
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
		c.Close()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s.Shutdown(sctx)
		cancel()
		n.Shutdown()
	}
}
