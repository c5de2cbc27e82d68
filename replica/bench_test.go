package replica

import (
	"context"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/quorum"
	"github.com/sessiongate/sessiongate/replication"
)

// ackingSender acknowledges every call at once, on the caller's goroutine.
type ackingSender struct{}

func (ackingSender) Go(_ context.Context, _ string, _ replication.Method, _ any, _ time.Duration, done func(error)) {
	done(nil)
}
func (ackingSender) Connected(string) bool                 { return true }
func (ackingSender) Connect(context.Context, string) error { return nil }

// BenchmarkFlight is a flight's own cost on the write path: a write to three replicas,
// its copies acknowledged at once, decided without waiting.
func BenchmarkFlight(b *testing.B) {
	r := newRig(b, "a", quorum.AcksMajority, time.Second, newFakeClock(), []string{"a", "b", "c"})
	r.cfg.Sender = ackingSender{}
	r.clock.set(2 * time.Second) // past the fence
	o := ops(1)
	b.ReportAllocs()
	for b.Loop() {
		f := r.Start(r.view, []Part{{P: 0, Ops: o}})
		if !f.Done() {
			b.Fatal("undecided")
		}
	}
}
