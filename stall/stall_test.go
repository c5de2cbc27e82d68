package stall

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable monotonic clock.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Duration      { return time.Duration(c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		steps   []time.Duration // clock advances, a Check after each
		stalled []bool
	}{
		{"regular notes", []time.Duration{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}, []bool{false, false, false}},
		{"exactly the threshold is no stall", []time.Duration{time.Second}, []bool{false}},
		{"a gap past the threshold", []time.Duration{100 * time.Millisecond, 1500 * time.Millisecond, 100 * time.Millisecond}, []bool{false, true, false}},
		{"two stalls", []time.Duration{2 * time.Second, 100 * time.Millisecond, 3 * time.Second}, []bool{true, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c clock
			w := New(time.Second, c.now)
			for i, d := range tc.steps {
				c.advance(d)
				stalled, first, gap := w.Check()
				if stalled != tc.stalled[i] || first != stalled {
					t.Fatalf("step %d: stalled %v first %v (gap %v), want stalled %v", i, stalled, first, gap, tc.stalled[i])
				}
				if gap != d {
					t.Fatalf("step %d: gap %v, want %v", i, gap, d)
				}
			}
		})
	}
}

// Of many callers that see the same stall at once, exactly one is told to act on it; all
// of them are told it stalled.
func TestOneCallerActsOnAStall(t *testing.T) {
	var c clock
	w := New(time.Second, c.now)
	c.advance(5 * time.Second)
	var firsts, stalls atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stalled, first, _ := w.Check()
			if stalled {
				stalls.Add(1)
			}
			if first {
				firsts.Add(1)
			}
		}()
	}
	wg.Wait()
	if firsts.Load() != 1 || stalls.Load() == 0 {
		t.Fatalf("%d callers acted, %d saw the stall", firsts.Load(), stalls.Load())
	}
	if stalled, _, _ := w.Check(); stalled {
		t.Fatal("still stalled after the stall was noted")
	}
}

func TestBackdate(t *testing.T) {
	var c clock
	w := New(time.Second, c.now)
	w.Backdate(5 * time.Second)
	if stalled, first, _ := w.Check(); !stalled || !first {
		t.Fatal("a backdated note is no stall")
	}
}
