package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// describe is the one-line summary of a run's settings.
func describe(cfg *Config, target string, addrs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %s, workload %s", target, strings.Join(addrs, ","), cfg.Workload)
	if cfg.Workload == workloadRead {
		fmt.Fprintf(&b, " (%.0f%% PGET over %d sessions, skew %g)", cfg.ReadRatio*100, cfg.Sessions, cfg.Skew)
	}
	fmt.Fprintf(&b, ", %d conns", cfg.Conns)
	if len(addrs) > 1 {
		fmt.Fprintf(&b, " (spread %s)", cfg.Spread)
	}
	fmt.Fprintf(&b, ", pipeline %d, payload %d B, ", cfg.Pipeline, cfg.Payload)
	if cfg.Rate > 0 {
		fmt.Fprintf(&b, "open loop at %g req/s", cfg.Rate)
	} else {
		b.WriteString("closed loop")
	}
	if cfg.Duration > 0 {
		fmt.Fprintf(&b, ", %s", cfg.Duration)
	}
	if cfg.Ops > 0 {
		fmt.Fprintf(&b, ", at most %d ops", cfg.Ops)
	}
	return b.String()
}

// printResult writes one run's figures as a table.
func printResult(w io.Writer, r *Result) {
	fmt.Fprintf(w, "%s at %s: %d ops in %.2f s = %.0f ops/s, %d errors\n",
		r.Target, strings.Join(r.Addrs, ","), r.Ops, r.Seconds, r.OpsPerSec, r.Errors)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "command\tops\tops/s\terrors\tp50 µs\tp99 µs\tp99.9 µs\tmax µs\t")
	row := func(name string, ops, errs int64, rate float64, l Latency) {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%s\t%s\t%s\t%s\t\n", name, ops, rate, errs, us(l.P50), us(l.P99), us(l.P999), us(l.Max))
	}
	for _, c := range r.Commands {
		row(c.Name, c.Ops, c.Errors, c.OpsPerSec, c.Latency)
	}
	if len(r.Commands) > 1 {
		row("all", r.Ops, r.Errors, r.OpsPerSec, r.All)
	}
	tw.Flush()
	if r.ClientCPU > 0 && r.Ops+r.Errors > 0 {
		fmt.Fprintf(w, "client CPU %.2f s (%.1f µs/op, %.0f%% of one core)\n",
			r.ClientCPU, r.ClientCPU*1e6/float64(r.Ops+r.Errors), 100*r.ClientCPU/r.Seconds)
	}
	printErrors(w, r)
}

func printErrors(w io.Writer, r *Result) {
	if r.Unsent > 0 {
		fmt.Fprintf(w, "%s: %d requests were due but never sent: the target fell behind the --rate\n", r.Target, r.Unsent)
	}
	if len(r.ErrorKinds) == 0 {
		return
	}
	fmt.Fprintf(w, "%s errors:\n", r.Target)
	for _, k := range sortedKinds(r.ErrorKinds) {
		fmt.Fprintf(w, "  %10d  %s\n", r.ErrorKinds[k], k)
	}
}

// printCompare writes a sessiongate run and a Redis run side by side, with the ratio of
// their throughputs and latencies (sessiongate / Redis).
func printCompare(w io.Writer, sg, rd *Result) {
	fmt.Fprintf(w, "sessiongate %s vs redis %s: workload %s, %d conns, pipeline %d, payload %d B\n",
		strings.Join(sg.Addrs, ","), strings.Join(rd.Addrs, ","), sg.Workload, sg.Conns, sg.Pipeline, sg.Payload)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "command\tsg ops/s\tredis ops/s\tsg/redis\tsg p50 µs\tredis p50 µs\tsg p99 µs\tredis p99 µs\tsg p99.9 µs\tredis p99.9 µs\t")
	row := func(name string, a, b CommandResult) {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, a.OpsPerSec, b.OpsPerSec,
			ratio(a.OpsPerSec, b.OpsPerSec), us(a.P50), us(b.P50), us(a.P99), us(b.P99), us(a.P999), us(b.P999))
	}
	byName := map[string]CommandResult{}
	for _, c := range rd.Commands {
		byName[c.Name] = c
	}
	for _, c := range sg.Commands {
		row(c.Name, c, byName[c.Name])
	}
	row("all", CommandResult{OpsPerSec: sg.OpsPerSec, Latency: sg.All}, CommandResult{OpsPerSec: rd.OpsPerSec, Latency: rd.All})
	tw.Flush()
	fmt.Fprintf(w, "throughput ratio sessiongate/redis: %s\n", ratio(sg.OpsPerSec, rd.OpsPerSec))
	printErrors(w, sg)
	printErrors(w, rd)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// us formats microseconds: whole numbers, one decimal below 10.
func us(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}
