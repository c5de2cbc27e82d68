package main

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// quiet names the time outside every fault window.
const quiet = "none"

// row is one line of the report: one fault type, the quiet time, or the total.
type row struct {
	kind                        string
	runs                        int
	ops, acked, failed, unknown int
	// staleFault: reads during the fault that showed state older than acknowledged (the
	// cluster keeps serving on both sides of a fault); staleAfter: items the check after
	// convergence found older than acknowledged (or, in the quiet row, such reads).
	staleFault, staleAfter int
	// Items still wrong at the final check, charged to the fault whose check first found
	// them: lost counts acknowledged writes.
	lost, resurrected int
	// late: unknown writes that landed after a later acknowledged one (found by a check);
	// phantom: writes answered with an error that took effect.
	late, phantom     int
	unavail, converge time.Duration
	unconverged       int
	worst             gap            // the longest unavailability
	errs              map[uint16]int // error number -> operations
}

// timeline attributes moments to fault windows.
type timeline struct {
	windows []*window
	names   []string // node index -> service name
}

// at returns the window overlapping [t0, t1], or nil.
func (tl *timeline) at(t0, t1 time.Time) *window {
	for _, w := range tl.windows {
		end := w.end
		if end.IsZero() {
			end = farFuture
		}
		if !t1.Before(w.start) && !t0.After(end) {
			return w
		}
	}
	return nil
}

// entryDown reports whether a fault held the node an operation entered through.
func (tl *timeline) entryDown(op *opRecord) bool {
	name := tl.names[op.node]
	for _, w := range tl.windows {
		d, ok := w.down[name]
		if !ok {
			continue
		}
		to := d[1]
		if to.IsZero() {
			to = farFuture
		}
		if !op.done.Before(d[0]) && !op.inv.After(to) {
			return true
		}
	}
	return false
}

// aggregate builds the report's rows: one per fault kind in kinds, the quiet time, and
// the total (last). first says which check first found each item wrong; final is the last
// check.
func aggregate(tl *timeline, kinds []string, ops, probes []opRecord, first map[string]firstSeen, final checkResult,
	runEnd time.Time) []row {
	rows := map[string]*row{quiet: {kind: quiet, errs: map[uint16]int{}}}
	order := append(append([]string(nil), kinds...), quiet)
	for _, k := range kinds {
		rows[k] = &row{kind: k, errs: map[uint16]int{}}
	}
	kindOf := func(w *window) *row {
		if w == nil {
			return rows[quiet]
		}
		if rows[w.kind] == nil {
			rows[w.kind] = &row{kind: w.kind, errs: map[uint16]int{}}
			order = append(order[:len(order)-1], w.kind, quiet)
		}
		return rows[w.kind]
	}
	for _, w := range tl.windows {
		r := kindOf(w)
		r.runs++
		r.converge = max(r.converge, w.converge)
		if !w.converged {
			r.unconverged++
		}
	}
	for item, f := range first {
		r := rows[f.phase]
		if r == nil {
			r = rows[quiet]
		}
		switch f.v {
		case readLate:
			r.late++
		case readPhantom, verdictUnexpected:
			r.phantom++
		default:
			r.staleAfter++
		}
		if w, ok := final.wrong[item]; ok {
			switch w.v {
			case readLost, verdictSessionLost:
				r.lost += w.weight
			case verdictResurrected:
				r.resurrected++
			}
		}
	}
	for i := range ops {
		op := &ops[i]
		r := kindOf(tl.at(op.inv, op.done))
		r.ops++
		switch op.out {
		case acked:
			r.acked++
		case failed:
			r.failed++
		default:
			r.unknown++
		}
		switch {
		case !op.stale:
		case r.kind == quiet:
			r.staleAfter++
		default:
			r.staleFault++
		}
		if op.msg != 0 {
			r.errs[op.msg]++
		}
	}
	for _, g := range unavailability(tl, append(append([]opRecord(nil), ops...), probes...), runEnd) {
		r := kindOf(tl.at(g.from, g.from))
		if g.length > r.unavail {
			r.unavail, r.worst = g.length, g
		}
	}
	total := row{kind: "total"}
	var out []row
	for _, k := range order {
		r := rows[k]
		out = append(out, *r)
		total.runs += r.runs
		total.ops, total.acked, total.failed, total.unknown = total.ops+r.ops, total.acked+r.acked, total.failed+r.failed, total.unknown+r.unknown
		total.staleFault, total.staleAfter = total.staleFault+r.staleFault, total.staleAfter+r.staleAfter
		total.lost, total.resurrected = total.lost+r.lost, total.resurrected+r.resurrected
		total.late, total.phantom = total.late+r.late, total.phantom+r.phantom
		if r.unavail > total.unavail {
			total.unavail, total.worst = r.unavail, r.worst
		}
		total.converge = max(total.converge, r.converge)
		total.unconverged += r.unconverged
	}
	return append(out, total)
}

// gap is a stretch during which a partition answered nobody.
type gap struct {
	part   int16
	from   time.Time
	length time.Duration
}

// unavailability finds, per partition, each stretch from an operation that got no answer
// (timeout, dropped connection, TRYAGAIN) to the end of the next answered one (the
// prober's reads included). Only operations that entered through a node no fault held
// count: a client stuck on a frozen node says nothing about whether the cluster served the
// partition.
func unavailability(tl *timeline, ops []opRecord, runEnd time.Time) []gap {
	byPart := map[int16][]*opRecord{}
	for i := range ops {
		op := &ops[i]
		if op.part < 0 || tl.entryDown(op) {
			continue
		}
		byPart[op.part] = append(byPart[op.part], op)
	}
	var gaps []gap
	for _, list := range byPart {
		sort.Slice(list, func(i, j int) bool { return list[i].inv.Before(list[j].inv) })
		var from time.Time
		for _, op := range list {
			switch {
			case op.out == acked && !from.IsZero():
				gaps = append(gaps, gap{op.part, from, op.done.Sub(from)})
				from = time.Time{}
			case op.out != acked && op.avail && from.IsZero():
				from = op.inv
			}
		}
		if !from.IsZero() {
			gaps = append(gaps, gap{list[0].part, from, runEnd.Sub(from)})
		}
	}
	return gaps
}

// printTable writes the report.
func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\truns\tops\tacked\tfailed\tunknown\tlost\tresurrected\tstale in fault\tstale after\tlate\tphantom\tunavailable (max)\tconverge (max)\t")
	for _, r := range rows {
		conv := "-"
		if r.runs > 0 {
			conv = fmt.Sprintf("%.1fs", r.converge.Seconds())
			if r.unconverged > 0 {
				conv += fmt.Sprintf(" (%d never)", r.unconverged)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1fs\t%s\t\n", r.kind, r.runs, r.ops, r.acked,
			r.failed, r.unknown, r.lost, r.resurrected, r.staleFault, r.staleAfter, r.late, r.phantom, r.unavail.Seconds(), conv)
	}
	tw.Flush()
}

// printDetails writes, per row, the longest unavailability and the most frequent errors.
func printDetails(w io.Writer, rows []row, errs *errorTable) {
	for _, r := range rows[:len(rows)-1] {
		if r.ops == 0 {
			continue
		}
		fmt.Fprintf(w, "%s:", r.kind)
		if r.unavail > 0 {
			fmt.Fprintf(w, " longest unavailability %.1fs on partition %d from %s;", r.unavail.Seconds(), r.worst.part,
				r.worst.from.Format("15:04:05.000"))
		}
		type count struct {
			msg uint16
			n   int
		}
		var cs []count
		for m, n := range r.errs {
			cs = append(cs, count{m, n})
		}
		sort.Slice(cs, func(i, j int) bool { return cs[i].n > cs[j].n || cs[i].n == cs[j].n && cs[i].msg < cs[j].msg })
		if len(cs) == 0 {
			fmt.Fprint(w, " no errors")
		}
		for i, c := range cs[:min(len(cs), 4)] {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(w, "%s %dx %q", sep, c.n, errs.text(c.msg))
		}
		fmt.Fprintln(w)
	}
}
