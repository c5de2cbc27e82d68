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
	for _, sc := range r.ServerCPU {
		if sc.Seconds < 0 {
			fmt.Fprintf(w, "server %d CPU unknown: the process ended during the run\n", sc.PID)
		} else if r.Ops+r.Errors > 0 {
			fmt.Fprintf(w, "server %d CPU %.2f s (%.1f µs/op, %.0f%% of one core)\n",
				sc.PID, sc.Seconds, sc.Seconds*1e6/float64(r.Ops+r.Errors), 100*sc.Seconds/r.Seconds)
		}
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

// printCompare writes a sessiongate run and its baseline's run (Redis, or another sessiongate
// target) side by side, with the ratio of their throughputs (sessiongate / baseline).
func printCompare(w io.Writer, sg, base *Result) {
	a, b, whole := "sg", "redis", "sessiongate/redis"
	if base.Target == targetSessiongate {
		a, b, whole = "A", "B", "A/B"
	}
	fmt.Fprintf(w, "sessiongate %s vs %s %s: workload %s, %d conns, pipeline %d, payload %d B\n",
		strings.Join(sg.Addrs, ","), base.Target, strings.Join(base.Addrs, ","), sg.Workload, sg.Conns, sg.Pipeline, sg.Payload)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "command\t%[1]s ops/s\t%[2]s ops/s\t%[1]s/%[2]s\t%[1]s p50 µs\t%[2]s p50 µs\t%[1]s p99 µs\t%[2]s p99 µs\t%[1]s p99.9 µs\t%[2]s p99.9 µs\t\n", a, b)
	row := func(name string, x, y CommandResult) {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, x.OpsPerSec, y.OpsPerSec,
			ratio(x.OpsPerSec, y.OpsPerSec), us(x.P50), us(y.P50), us(x.P99), us(y.P99), us(x.P999), us(y.P999))
	}
	byName := map[string]CommandResult{}
	for _, c := range base.Commands {
		byName[c.Name] = c
	}
	for _, c := range sg.Commands {
		row(c.Name, c, byName[c.Name])
	}
	row("all", CommandResult{OpsPerSec: sg.OpsPerSec, Latency: sg.All}, CommandResult{OpsPerSec: base.OpsPerSec, Latency: base.All})
	tw.Flush()
	fmt.Fprintf(w, "throughput ratio %s: %s\n", whole, ratio(sg.OpsPerSec, base.OpsPerSec))
	printErrors(w, sg)
	printErrors(w, base)
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
