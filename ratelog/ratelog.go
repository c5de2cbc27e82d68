// Package ratelog keeps a flood of events (strangers knocking, accept errors) from flooding
// the log: a Limiter lets one line through per interval and counts the ones it held back,
// reporting that count on the next line it lets through.
package ratelog

import (
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is the interval of a Limiter whose Every is zero.
const DefaultEvery = 10 * time.Second

// Limiter logs at most one line per Every. The zero value is ready to use.
type Limiter struct {
	// Every is the least time between two lines. Default DefaultEvery.
	Every time.Duration

	mu   sync.Mutex
	last time.Time
	held int
	now  func() time.Time // tests
}

// Warn logs msg at warning level unless a line went out less than Every ago; a line that
// goes out after some were held back carries their number as "suppressed".
func (l *Limiter) Warn(log *slog.Logger, msg string, args ...any) {
	if n, ok := l.allow(); ok {
		if n > 0 {
			args = append(args, "suppressed", n)
		}
		log.Warn(msg, args...)
	}
}

// allow reports whether a line may go out now, and how many were held back before it.
func (l *Limiter) allow() (held int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.now != nil {
		now = l.now()
	}
	every := l.Every
	if every <= 0 {
		every = DefaultEvery
	}
	if !l.last.IsZero() && now.Sub(l.last) < every {
		l.held++
		return 0, false
	}
	held, l.held, l.last = l.held, 0, now
	return held, true
}
