package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestOneLinePerIntervalWithTheCountHeldBack(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	at := time.Unix(1000, 0)
	l := &Limiter{Every: time.Second, now: func() time.Time { return at }}
	for range 5 {
		l.Warn(log, "knock")
	}
	at = at.Add(999 * time.Millisecond)
	l.Warn(log, "knock")
	at = at.Add(time.Millisecond)
	l.Warn(log, "knock", "from", "x")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), out.String())
	}
	if strings.Contains(lines[0], "suppressed") || !strings.Contains(lines[1], "from=x suppressed=5") {
		t.Fatalf("wrong counts:\n%s", out.String())
	}
}
