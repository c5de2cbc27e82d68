package replica

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/quorum"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	base time.Time
	now  atomic.Int64
}

func newFakeClock() *fakeClock                      { return &fakeClock{base: time.Now()} }
func (c *fakeClock) Now() int64                     { return c.now.Load() }
func (c *fakeClock) At(t time.Time) int64           { return int64(t.Sub(c.base)) }
func (c *fakeClock) set(d time.Duration)            { c.now.Store(int64(d)) }
func (c *fakeClock) time(d time.Duration) time.Time { return c.base.Add(d) }

// call is one call a fakeSender took.
type call struct {
	addr string
	m    replication.Method
	req  any
	done func(error)
}

// fakeSender records calls and answers none: the test does, through their done.
type fakeSender struct {
	mu        sync.Mutex
	calls     []call
	down      map[string]bool // addresses not connected
	connected []string        // Connect calls
}

func (s *fakeSender) Go(_ context.Context, addr string, m replication.Method, req any, _ time.Duration, done func(error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call{addr, m, req, done})
}

func (s *fakeSender) Connected(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.down[addr]
}

func (s *fakeSender) Connect(_ context.Context, addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connected = append(s.connected, addr)
	return nil
}

// take returns the calls made since the last take.
func (s *fakeSender) take() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.calls
	s.calls = nil
	return out
}

// inline is a Pool that runs at once.
type inline struct{}

func (inline) Go(fn func()) { fn() }

// fakeView is a View of fixed replica sets; members are reached at "addr-" + name.
type fakeView struct {
	version uint64
	sets    [][]string
	since   time.Time
}

func (v *fakeView) Version() uint64         { return v.version }
func (v *fakeView) Partitions() int         { return len(v.sets) }
func (v *fakeView) Replicas(p int) []string { return v.sets[p] }
func (v *fakeView) Since() time.Time        { return v.since }
func (v *fakeView) Addr(m string) (string, bool) {
	for _, set := range v.sets {
		for _, n := range set {
			if n == m {
				return "addr-" + m, true
			}
		}
	}
	return "", false
}

// rig is a Replicator with fakes around it.
type rig struct {
	*Replicator
	clock  *fakeClock
	sender *fakeSender
	view   *fakeView
	dirty  []int
	repl   atomic.Uint64
	failed atomic.Uint64
}

// newRig makes a Replicator named self, with the fake clock at 0 (clock nil: the real one).
func newRig(t testing.TB, self string, acks quorum.Acks, lease time.Duration, clock *fakeClock, sets ...[]string) *rig {
	t.Helper()
	r := &rig{clock: clock, sender: &fakeSender{down: map[string]bool{}}, view: &fakeView{version: 1, sets: sets}}
	var c Clock
	if clock != nil {
		c = clock
		r.view.since = clock.time(0)
	} else {
		r.view.since = time.Now()
	}
	var mu sync.Mutex
	r.Replicator = New(Config{
		Self: self, Acks: acks, ReadLease: lease, ReadDelay: 100 * time.Millisecond, Timeout: time.Second,
		Sender: r.sender, Pool: inline{}, Clock: c, Life: context.Background(),
		View:    func() View { return r.view },
		Syncing: func() bool { return false },
		Dirty: func(p int) {
			mu.Lock()
			r.dirty = append(r.dirty, p)
			mu.Unlock()
		},
		Replicated: &r.repl, ReplFailed: &r.failed,
	})
	return r
}

func ops(n int) []sessions.Op {
	out := make([]sessions.Op, n)
	for i := range out {
		out[i].ID[0] = byte(i)
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
