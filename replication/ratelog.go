package replication

import (
	"log/slog"
	"sync"
	"time"
)

// rateLogEvery is the least time between two lines of one rateLog.
const rateLogEvery = 10 * time.Second

// rateLog logs a warning at most once per rateLogEvery and counts the ones it held back, so
// that a flood of strangers cannot flood the log too.
type rateLog struct {
	mu      sync.Mutex
	last    time.Time
	dropped int
}

func (r *rateLog) log(l *slog.Logger, msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < rateLogEvery {
		r.dropped++
		r.mu.Unlock()
		return
	}
	dropped := r.dropped
	r.last, r.dropped = now, 0
	r.mu.Unlock()
	if dropped > 0 {
		args = append(args, "suppressed", dropped)
	}
	l.Warn(msg, args...)
}
