package replica

import "time"

// Clock reads monotonic time in nanoseconds since some fixed base. Lease expiries, the
// view-change fence and a lease request's start are all readings of one Clock, so that a
// test can drive them without sleeping.
type Clock interface {
	Now() int64           // nanoseconds since the base
	At(t time.Time) int64 // what Now read at t (t taken from time.Now)
}

// MonoClock is the monotonic clock from a base time.
type MonoClock struct{ base time.Time }

// NewMonoClock is a MonoClock from now.
func NewMonoClock() MonoClock { return MonoClock{base: time.Now()} }

// Now is the monotonic time since the base.
func (c MonoClock) Now() int64 { return int64(time.Since(c.base)) }

// At is Now as it read at t.
func (c MonoClock) At(t time.Time) int64 { return int64(t.Sub(c.base)) }
