// Package stall tells that a process did not run for a while. A node frozen (SIGSTOP, a
// paused container, a VM stall) for longer than failure detection comes back believing
// nothing happened, while the others declared it dead and took over its work; it cannot learn
// that from the network in time, so it watches its own clock: a regular note that falls far
// behind means the process did not run.
package stall

import (
	"sync/atomic"
	"time"
)

// Watchdog compares the time between notes with a threshold. Its clock is monotonic time
// since an origin; the zero note is the origin itself.
type Watchdog struct {
	threshold time.Duration
	now       func() time.Duration
	last      atomic.Int64 // the clock at the last note
}

// New returns a Watchdog that calls a gap longer than threshold a stall. now reads the
// clock: monotonic time since an origin, which counts as the first note.
func New(threshold time.Duration, now func() time.Duration) *Watchdog {
	return &Watchdog{threshold: threshold, now: now}
}

// Since returns a clock for New: monotonic time since origin.
func Since(origin time.Time) func() time.Duration {
	return func() time.Duration { return time.Since(origin) }
}

// Check notes that the process runs now. stalled reports a gap past the threshold since the
// last note; first is true for exactly one of the callers that see one stall, the one that
// must act on it (the others only refuse to act as if nothing happened).
func (w *Watchdog) Check() (stalled, first bool, gap time.Duration) {
	now := int64(w.now())
	last := w.last.Load()
	if gap = time.Duration(now - last); gap > w.threshold {
		return true, w.last.CompareAndSwap(last, now), gap
	}
	w.last.Store(now)
	return false, false, gap
}

// Backdate moves the last note back by d, as if the process had not run since (for tests).
func (w *Watchdog) Backdate(d time.Duration) { w.last.Add(-int64(d)) }
