package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStatCPU(t *testing.T) {
	// A command name with spaces and parentheses of its own; utime 250, stime 50 ticks.
	line := "4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 9 0 100 0 0\n"
	if d, ok := statCPU([]byte(line)); !ok || d != 3*time.Second {
		t.Fatalf("statCPU = %v, %v; want 3s", d, ok)
	}
	for _, bad := range []string{"", "4242 no parens", "4242 (x) S 1 2", "4242 (x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 x 50 0"} {
		if _, ok := statCPU([]byte(bad)); ok {
			t.Fatalf("statCPU(%q) accepted", bad)
		}
	}
}

// The fake server runs in this process, so this process's CPU is the server's: the report
// carries it, for the pid given.
func TestRunReportsServerCPU(t *testing.T) {
	addr := startFake(t, newFakeSessiongate().handle)
	pid := os.Getpid()
	r := runJSON(t, "--addr", addr, "--workload", "read", "--ops", "30000", "--sessions", "100",
		"--server-pids", strconv.Itoa(pid))
	if len(r.ServerCPU) != 1 || r.ServerCPU[0].PID != pid || r.ServerCPU[0].Seconds <= 0 {
		t.Fatalf("server CPU %+v", r.ServerCPU)
	}
	code, _, stderr := runMain(t, "--addr", addr, "--ops", "10", "--server-pids", "2147483646")
	if code != 1 || !strings.Contains(stderr, "server process 2147483646") {
		t.Fatalf("a pid that does not exist: exit %d, %q", code, stderr)
	}
}
