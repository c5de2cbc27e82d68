package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// runJSON runs args plus --json and decodes the result.
func runJSON(t *testing.T, args ...string) *Result {
	t.Helper()
	code, stdout, stderr := runMain(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r Result
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	return &r
}

func commandOps(r *Result) map[string]int64 {
	m := map[string]int64{}
	for _, c := range r.Commands {
		m[c.Name] = c.Ops
	}
	return m
}

func TestRunEveryWorkloadAgainstAFakeServer(t *testing.T) {
	addr := startFake(t, newFakeSessiongate().handle)
	for _, wl := range []string{"start", "read", "lifecycle", "extended"} {
		for _, depth := range []string{"1", "4"} {
			r := runJSON(t, "--addr", addr, "--workload", wl, "--ops", "2000", "--conns", "3",
				"--pipeline", depth, "--sessions", "100")
			if r.Ops != 2000 || r.Errors != 0 || len(r.ErrorKinds) != 0 {
				t.Fatalf("%s depth %s: %d ops, %d errors %v", wl, depth, r.Ops, r.Errors, r.ErrorKinds)
			}
			if r.Target != "sessiongate" || r.Workload != wl || r.All.P50 <= 0 || r.All.Max < r.All.P50 || r.OpsPerSec <= 0 {
				t.Fatalf("%s: %+v", wl, r)
			}
			ops := commandOps(r)
			switch wl {
			case "read":
				if ops["PGET"] < 1600 || ops["PSET"] < 100 {
					t.Fatalf("read mix %v", ops)
				}
			case "lifecycle":
				if ops["PGET"] < 3*ops["PSET"] || ops["START"] < 100 {
					t.Fatalf("lifecycle %v", ops)
				}
			case "extended":
				if len(ops) != extendedLen {
					t.Fatalf("extended %v", ops)
				}
			}
		}
	}
}

func TestRunRedisDialectAgainstAFakeServer(t *testing.T) {
	addr := startFake(t, fakeRedis)
	for _, wl := range []string{"start", "read", "lifecycle", "extended"} {
		r := runJSON(t, "--addr", addr, "--redis", "--workload", wl, "--ops", "700", "--pipeline", "2", "--sessions", "50")
		if r.Ops != 700 || r.Errors != 0 || r.Target != "redis" {
			t.Fatalf("%s: %d ops, %d errors %v", wl, r.Ops, r.Errors, r.ErrorKinds)
		}
	}
}

func TestRunOpenLoop(t *testing.T) {
	addr := startFake(t, newFakeSessiongate().handle)
	r := runJSON(t, "--addr", addr, "--workload", "lifecycle", "--rate", "20000", "--ops", "300", "--conns", "2", "--pipeline", "4")
	if r.Ops != 300 || r.Errors != 0 || r.Rate != 20000 {
		t.Fatalf("%+v", r)
	}
}

func TestRunCannotConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, _, stderr := runMain(t, "--addr", addr, "--duration", "1s")
	if code != exitFail || !strings.Contains(stderr, "cannot connect to "+addr) {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestRunRefusesATargetThatIsNotSessiongate(t *testing.T) {
	addr := startFake(t, func(_ *fakeConn, args []string) string {
		if args[0] == "PING" {
			return "+PONG\r\n"
		}
		return "-ERR unknown command\r\n"
	})
	code, _, stderr := runMain(t, "--addr", addr, "--ops", "10")
	if code != exitFail || !strings.Contains(stderr, "use --redis") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestRunNeedsAPasswordWhenTheServerDoes(t *testing.T) {
	addr := startFake(t, func(_ *fakeConn, args []string) string {
		switch args[0] {
		case "AUTH":
			if args[1] == "pw" {
				return "+OK\r\n"
			}
			return "-WRONGPASS invalid password\r\n"
		case "PING":
			return "+PONG\r\n"
		}
		return bulk("v1.tok")
	})
	code, _, stderr := runMain(t, "--addr", addr, "--workload", "start", "--ops", "10", "--password", "bad")
	if code != exitFail || !strings.Contains(stderr, "WRONGPASS") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r := runJSON(t, "--addr", addr, "--workload", "start", "--ops", "10", "--password", "pw")
	if r.Ops != 10 {
		t.Fatalf("%+v", r)
	}
}

func TestRunCountsErrorsByKind(t *testing.T) {
	f := newFakeSessiongate()
	const missing = "the requested <payload_name> does not exist"
	addr := startFake(t, func(c *fakeConn, args []string) string {
		if args[0] == "SESSIONGATE.PGET" {
			return "-" + missing + "\r\n"
		}
		return f.handle(c, args)
	})
	r := runJSON(t, "--addr", addr, "--ops", "1000", "--sessions", "20")
	ops := map[string]CommandResult{}
	for _, c := range r.Commands {
		ops[c.Name] = c
	}
	if ops["PGET"].Ops != 0 || ops["PGET"].Errors == 0 || r.ErrorKinds[missing] != ops["PGET"].Errors ||
		r.Errors != ops["PGET"].Errors || r.Ops+r.Errors != 1000 {
		t.Fatalf("%+v", r)
	}
}

func TestRunCountsRequestsLostWithTheConnection(t *testing.T) {
	f := newFakeSessiongate()
	addr := startFake(t, func(c *fakeConn, args []string) string {
		if c.n > 30 {
			return "" // hang up
		}
		return f.handle(c, args)
	})
	r := runJSON(t, "--addr", addr, "--workload", "start", "--conns", "2", "--pipeline", "4", "--ops", "100000")
	if r.Ops == 0 || r.Ops > 60 || r.ErrorKinds["connection closed by the server"] == 0 {
		t.Fatalf("%d ops, errors %v", r.Ops, r.ErrorKinds)
	}
}

func TestRunFailsWhenEveryConnectionDoes(t *testing.T) {
	addr := startFake(t, func(c *fakeConn, args []string) string {
		switch args[0] {
		case "PING":
			return "+PONG\r\n"
		case "SESSIONGATE.START":
			if c.n == 2 { // the check after connecting; then nothing more
				return bulk("v1.tok")
			}
		}
		return ""
	})
	code, _, stderr := runMain(t, "--addr", addr, "--workload", "start", "--conns", "1", "--ops", "50")
	if code != exitFail || !strings.Contains(stderr, "every connection failed") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestRunSpreadsConnections(t *testing.T) {
	var hits, starts [2]atomic.Int64
	addrs := make([]string, 2)
	for i := range addrs {
		f := newFakeSessiongate()
		addrs[i] = startFake(t, func(c *fakeConn, args []string) string {
			hits[i].Add(1)
			if strings.EqualFold(args[0], "SESSIONGATE.START") {
				starts[i].Add(1)
			}
			return f.handle(c, args)
		})
	}
	list := addrs[0] + "," + addrs[1]
	// A duration, not an operation count: with --ops the connections share one budget, and
	// one that starts late may find it spent (this test once saw 35 and 369 commands).
	runJSON(t, "--addr", list, "--workload", "lifecycle", "--conns", "4", "--duration", "300ms")
	if starts[0].Load() == 0 || starts[1].Load() == 0 {
		t.Fatalf("spread all: %d and %d sessions started", starts[0].Load(), starts[1].Load())
	}
	hits[0].Store(0)
	hits[1].Store(0)
	runJSON(t, "--addr", list, "--spread", "first", "--workload", "lifecycle", "--conns", "4", "--ops", "400")
	if hits[0].Load() < 400 || hits[1].Load() != 0 {
		t.Fatalf("spread first: %d and %d commands", hits[0].Load(), hits[1].Load())
	}
}

func TestRunCompare(t *testing.T) {
	sg := startFake(t, newFakeSessiongate().handle)
	rd := startFake(t, fakeRedis)
	code, stdout, stderr := runMain(t, "--compare", sg+","+rd, "--ops", "500", "--sessions", "10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"sessiongate " + sg + " vs redis " + rd, "sg/redis", "PGET", "PSET", "throughput ratio sessiongate/redis"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no %q in\n%s", want, stdout)
		}
	}
	code, stdout, _ = runMain(t, "--compare", sg+","+rd, "--ops", "500", "--sessions", "10", "--json")
	var both map[string]Result
	if err := json.Unmarshal([]byte(stdout), &both); code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, stdout)
	}
	if both["sessiongate"].Ops != 500 || both["redis"].Ops != 500 || both["redis"].Target != "redis" {
		t.Fatalf("%+v", both)
	}
}

func TestRunCompareRounds(t *testing.T) {
	sg := startFake(t, newFakeSessiongate().handle)
	rd := startFake(t, fakeRedis)
	code, stdout, stderr := runMain(t, "--compare", sg+","+rd, "--ops", "300", "--sessions", "10", "--rounds", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stdout, "throughput ratio sessiongate/redis"); n != 3 {
		t.Errorf("%d round tables, want 3:\n%s", n, stdout)
	}
	if !strings.Contains(stdout, "round 3 of 3") || !strings.Contains(stdout, "ratios by round: ") || !strings.Contains(stdout, "; median ") {
		t.Errorf("no round summary in\n%s", stdout)
	}
	code, stdout, _ = runMain(t, "--compare", sg+","+rd, "--ops", "300", "--sessions", "10", "--rounds", "2", "--json")
	var out struct {
		Rounds []map[string]Result `json:"rounds"`
		Ratios []float64           `json:"ratios"`
		Median float64             `json:"median_ratio"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, stdout)
	}
	if len(out.Rounds) != 2 || len(out.Ratios) != 2 || out.Median <= 0 || out.Rounds[1]["redis"].Ops != 300 {
		t.Fatalf("%+v", out)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %g, want %g", c.in, got, c.want)
		}
	}
}

func TestRunPrintsATableAndProgress(t *testing.T) {
	addr := startFake(t, newFakeSessiongate().handle)
	code, stdout, stderr := runMain(t, "--addr", addr, "--workload", "lifecycle", "--duration", "1500ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"command", "p99.9 µs", "START", "END", "all"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no %q in\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "ops/s") || !strings.Contains(stderr, "1.") {
		t.Errorf("no progress line in\n%s", stderr)
	}
	var secs float64
	if _, err := fmt.Sscanf(stdout[strings.Index(stdout, " ops in ")+len(" ops in "):], "%f", &secs); err != nil || secs < 1.5 {
		t.Errorf("ran %g s (%v), want the whole --duration", secs, err)
	}
}

// --baseline sessiongate compares two sessiongate targets (a cluster's entry node against a
// lone node, or two builds), both spoken to in the sessiongate dialect.
func TestRunCompareSessiongateBaseline(t *testing.T) {
	a := newFakeSessiongate()
	b := newFakeSessiongate()
	addrA, addrB := startFake(t, a.handle), startFake(t, b.handle)
	code, stdout, stderr := runMain(t, "--compare", addrA+","+addrB, "--baseline", "sessiongate", "--ops", "300", "--sessions", "10", "--rounds", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"sessiongate " + addrA + " vs sessiongate " + addrB, "A/B", "throughput ratio A/B", "ratios by round: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no %q in\n%s", want, stdout)
		}
	}
	code, stdout, _ = runMain(t, "--compare", addrA+","+addrB, "--baseline", "sessiongate", "--ops", "300", "--sessions", "10", "--json")
	var both map[string]Result
	if err := json.Unmarshal([]byte(stdout), &both); code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, stdout)
	}
	if both["baseline"].Ops != 300 || both["baseline"].Target != "sessiongate" || both["sessiongate"].Ops != 300 {
		t.Fatalf("%+v", both)
	}
	for _, bad := range [][]string{{"--baseline", "memcached", "--compare", addrA + "," + addrB}, {"--baseline", "sessiongate", "--addr", addrA}} {
		if code, _, stderr := runMain(t, bad...); code == 0 || !strings.Contains(stderr, "--baseline") {
			t.Errorf("%v: exit %d, %s", bad, code, stderr)
		}
	}
}

// The read workload ends the sessions it made once the run is over (on fresh connections,
// after an open-loop run too), unless told to keep them; the Redis dialect deletes its keys.
func TestReadWorkloadEndsItsSessions(t *testing.T) {
	for _, extra := range [][]string{{}, {"--rate", "5000", "--pipeline", "4"}, {"--keep-sessions"}} {
		f := newFakeSessiongate()
		addr := startFake(t, f.handle)
		r := runJSON(t, append([]string{"--addr", addr, "--workload", "read", "--ops", "300", "--conns", "3", "--sessions", "70"}, extra...)...)
		if r.Ops != 300 || r.Errors != 0 {
			t.Fatalf("%v: %d ops, %d errors %v", extra, r.Ops, r.Errors, r.ErrorKinds)
		}
		f.mu.Lock()
		left := len(f.issued)
		f.mu.Unlock()
		want := 0
		if len(extra) == 1 {
			want = 70
		}
		if left != want {
			t.Fatalf("%v: %d sessions left after the run, want %d", extra, left, want)
		}
	}
	var dels atomic.Int64
	addr := startFake(t, func(c *fakeConn, args []string) string {
		if strings.EqualFold(args[0], "DEL") {
			dels.Add(1)
		}
		return fakeRedis(c, args)
	})
	runJSON(t, "--addr", addr, "--redis", "--workload", "read", "--ops", "300", "--sessions", "40")
	if dels.Load() != 40 {
		t.Fatalf("%d DELs after a Redis run, want 40", dels.Load())
	}
}

// An interrupted run leaves its sessions and says so, rather than making the user wait for a
// cleanup.
func TestInterruptedReadWorkloadLeavesItsSessions(t *testing.T) {
	f := newFakeSessiongate()
	addr := startFake(t, f.handle)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out, errOut bytes.Buffer
	realMain(ctx, []string{"--addr", addr, "--workload", "read", "--duration", "1m", "--sessions", "70"}, &out, &errOut, false)
	f.mu.Lock()
	left := len(f.issued)
	f.mu.Unlock()
	if left != 70 || !strings.Contains(errOut.String(), "leaving the 70 sessions") {
		t.Fatalf("%d sessions left, stderr %q", left, errOut.String())
	}
}
