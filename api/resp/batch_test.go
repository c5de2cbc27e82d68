package resp

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
)

// batchRecorder is a backend that records the size of every batch it is given.
type batchRecorder struct {
	n     *node.Node
	mu    sync.Mutex
	sizes []int
}

func (b *batchRecorder) Do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	return b.n.Do(ctx, cmd)
}

func (b *batchRecorder) DoBatch(ctx context.Context, cmds []*sessions.Command, out []api.Outcome) {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(cmds))
	b.mu.Unlock()
	b.n.DoBatch(ctx, cmds, out)
}

// A pipeline's session commands reach the backend together; a command that cannot be
// batched runs alone after everything before it; bad commands are answered in their place;
// replies keep the pipeline's order.
func TestPipelineRunsReachTheBackendTogether(t *testing.T) {
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	b := &batchRecorder{n: n}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Config{}, b)
	go s.Serve(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}()
	c := newGoRedis(t, ln.Addr().String(), 2)
	ctx := context.Background()
	tok, err := c.Do(ctx, "SESSIONGATE.START", "k", 60).Text()
	if err != nil {
		t.Fatal(err)
	}
	pipe := c.Pipeline()
	pipe.Do(ctx, "SESSIONGATE.PSET", "k", tok, "a", "1")
	pipe.Do(ctx, "SESSIONGATE.PGET", "k", tok, "a")
	pipe.Do(ctx, "SESSIONGATE.PGET", "k", tok+"x", "a") // bad token: answered without the backend
	pipe.Do(ctx, "SESSIONGATE.PUPDATE", "k", tok, "SET", "b", "2", "DEL", "a")
	pipe.Do(ctx, "PING")
	pipe.Do(ctx, "SESSIONGATE.PGETALL", "k", tok)
	pipe.Do(ctx, "SESSIONGATE.TTL", "k", tok)
	pipe.Do(ctx, "SESSIONGATE.EXPIRE", "k", tok, "nope")
	cmds, _ := pipe.Exec(ctx)
	want := []string{"OK", "1", "ERR <token> format is invalid", "OK", "PONG", "map[b:2]", "60", "ERR <ttl> must be a valid integer that represents seconds"}
	for i, cmd := range cmds {
		got := ""
		if err := cmd.Err(); err != nil {
			got = "ERR " + err.Error()
		} else {
			got = fmtVal(cmd.(interface{ Val() any }).Val())
		}
		if got != want[i] {
			t.Errorf("reply %d: %q, want %q", i, got, want[i])
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.sizes) != 2 || b.sizes[0] != 3 || b.sizes[1] != 2 {
		t.Errorf("batches of sizes %v, want [3 2] (PSET, PGET, PUPDATE; PING alone; PGETALL, TTL)", b.sizes)
	}
}

// fmtVal renders a go-redis reply value for comparison.
func fmtVal(v any) string {
	switch x := v.(type) {
	case []any:
		m := map[string]string{}
		for i := 0; i+1 < len(x); i += 2 {
			m[fmtVal(x[i])] = fmtVal(x[i+1])
		}
		return fmtVal(m)
	case map[any]any:
		m := map[string]string{}
		for k, v := range x {
			m[fmtVal(k)] = fmtVal(v)
		}
		return fmtVal(m)
	}
	return fmt.Sprint(v)
}
