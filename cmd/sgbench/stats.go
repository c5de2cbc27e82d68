package main

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms record nanoseconds from 1 µs to 100 s with 3 significant digits
// (about 130 KiB each; one per command a worker uses).
const (
	histMin    = int64(time.Microsecond)
	histMax    = int64(100 * time.Second)
	histDigits = 3
)

// cmdStats is one command's counts and latency histogram.
type cmdStats struct {
	hist   *hdrhistogram.Histogram
	ok     int64
	failed int64
}

// stats is what one worker measured. Workers never share one (no locks on the hot path);
// they are merged when the run ends.
type stats struct {
	cmds   [numCmds]*cmdStats
	errors map[string]int64
	unsent int64 // open loop: requests whose time came but that were never sent
}

func newStats() *stats { return &stats{errors: map[string]int64{}} }

func (s *stats) cmd(c cmdKind) *cmdStats {
	if s.cmds[c] == nil {
		s.cmds[c] = &cmdStats{hist: hdrhistogram.New(histMin, histMax, histDigits)}
	}
	return s.cmds[c]
}

// record counts a success that took lat.
func (s *stats) record(c cmdKind, lat time.Duration) {
	cs := s.cmd(c)
	cs.ok++
	v := int64(lat)
	if v < histMin {
		v = histMin
	} else if v > histMax {
		v = histMax
	}
	cs.hist.RecordValue(v)
}

// fail counts a failure of the given kind.
func (s *stats) fail(c cmdKind, kind string) {
	s.cmd(c).failed++
	s.errors[kind]++
}

func (s *stats) merge(o *stats) {
	for c, oc := range o.cmds {
		if oc == nil {
			continue
		}
		cs := s.cmd(cmdKind(c))
		cs.ok += oc.ok
		cs.failed += oc.failed
		cs.hist.Merge(oc.hist)
	}
	for k, n := range o.errors {
		s.errors[k] += n
	}
	s.unsent += o.unsent
}

// progress is the running total the progress line shows; workers add to it once per batch.
type progress struct {
	ok, failed atomic.Int64
}

// Latency is a latency summary in microseconds.
type Latency struct {
	P50  float64 `json:"p50_us"`
	P99  float64 `json:"p99_us"`
	P999 float64 `json:"p999_us"`
	Max  float64 `json:"max_us"`
	Mean float64 `json:"mean_us"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		P50: us(h.ValueAtQuantile(50)), P99: us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)), Max: us(h.Max()), Mean: h.Mean() / 1e3,
	}
}

// CommandResult is one command's figures.
type CommandResult struct {
	Name      string  `json:"name"`
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Latency
}

// Result is one run's figures; --json prints it.
type Result struct {
	Target     string           `json:"target"` // sessiongate or redis
	Addrs      []string         `json:"addrs"`
	Workload   string           `json:"workload"`
	Conns      int              `json:"conns"`
	Pipeline   int              `json:"pipeline"`
	Payload    int              `json:"payload_bytes"`
	Rate       float64          `json:"rate,omitempty"` // open loop: requests per second scheduled
	Seconds    float64          `json:"seconds"`
	Ops        int64            `json:"ops"`    // successful operations
	Errors     int64            `json:"errors"` // failed operations
	OpsPerSec  float64          `json:"ops_per_sec"`
	Unsent     int64            `json:"unsent,omitempty"`
	ClientCPU  float64          `json:"client_cpu_seconds"` // sgbench's own CPU time during the run
	ServerCPU  []ServerCPU      `json:"server_cpu,omitempty"`
	All        Latency          `json:"all"`
	Commands   []CommandResult  `json:"commands"`
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
}

// ServerCPU is the CPU time a server process (--server-pids) used during the run.
type ServerCPU struct {
	PID     int     `json:"pid"`
	Seconds float64 `json:"cpu_seconds"` // -1 when the process had gone by the end
}

// result turns merged stats into a Result covering elapsed.
func (s *stats) result(elapsed time.Duration) *Result {
	r := &Result{Seconds: elapsed.Seconds(), Unsent: s.unsent}
	all := hdrhistogram.New(histMin, histMax, histDigits)
	for c, cs := range s.cmds {
		if cs == nil {
			continue
		}
		all.Merge(cs.hist)
		r.Ops += cs.ok
		r.Errors += cs.failed
		r.Commands = append(r.Commands, CommandResult{
			Name: cmdKind(c).String(), Ops: cs.ok, Errors: cs.failed,
			OpsPerSec: perSec(cs.ok, elapsed), Latency: summarize(cs.hist),
		})
	}
	r.OpsPerSec = perSec(r.Ops, elapsed)
	r.All = summarize(all)
	if len(s.errors) > 0 {
		r.ErrorKinds = s.errors
	}
	return r
}

func perSec(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// sortedKinds lists error kinds, most frequent first.
func sortedKinds(m map[string]int64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if m[ks[i]] != m[ks[j]] {
			return m[ks[i]] > m[ks[j]]
		}
		return ks[i] < ks[j]
	})
	return ks
}
