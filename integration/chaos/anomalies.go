package main

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// anomalies collects, with their times, what the history shows that the system did not
// promise, or did not promise outside faults.
type anomalies struct {
	mu      sync.Mutex
	entries []anomaly
	dropped int
}

type anomaly struct {
	t    time.Time
	text string
}

// maxAnomalies bounds what is kept; the counts in the table are exact regardless.
const maxAnomalies = 300

func (a *anomalies) add(t time.Time, format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.entries) >= maxAnomalies {
		a.dropped++
		return
	}
	a.entries = append(a.entries, anomaly{t, fmt.Sprintf(format, args...)})
}

// print writes the anomalies in time order, each with the fault it happened under.
func (a *anomalies) print(w io.Writer, tl *timeline) {
	a.mu.Lock()
	defer a.mu.Unlock()
	sort.SliceStable(a.entries, func(i, j int) bool { return a.entries[i].t.Before(a.entries[j].t) })
	for _, e := range a.entries {
		kind := quiet
		if win := tl.at(e.t, e.t); win != nil {
			kind = win.kind
		}
		fmt.Fprintf(w, "  %s [%s] %s\n", e.t.Format("15:04:05.000"), kind, e.text)
	}
	if a.dropped > 0 {
		fmt.Fprintf(w, "  (%d more not kept)\n", a.dropped)
	}
}
