package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// maxTrails and maxTrailOps bound the trails printed at the end of a failed run.
const (
	maxTrails   = 5
	maxTrailOps = 60
)

// printTrails writes, for each session still wrong at the final check (a few at most),
// every operation that concerned it: the one that created it (START, CREATE, or the ROTATE
// it came from), its own, and its owner's ENDOWNERs, with the entry node, the outcome and
// the fault under way. The history file holds the same and more, but CI keeps only what is
// printed, and a loss seen once must be explainable from that.
//
// locate, when not nil, says where the session's copies are now (SESSIONGATE.CLUSTER
// LOCATE): present on some replica but read as missing, absent everywhere, or ended.
func printTrails(w io.Writer, wrong map[string]wrongItem, all []*session, ops []opRecord, tl *timeline, names []string,
	errs *errorTable, locate func(token string) string) {
	var ids []string
	seen := map[string]bool{}
	tokens := map[string]string{}
	for item := range wrong {
		tok, _, _ := strings.Cut(item, "/")
		if id := idOf(tok); !seen[id] {
			seen[id] = true
			ids = append(ids, id)
			tokens[id] = tok
		}
	}
	if len(ids) == 0 {
		return
	}
	sort.Strings(ids)
	owners := map[string]string{}
	for _, s := range all {
		if seen[idOf(s.token)] {
			owners[idOf(s.token)] = s.owner
		}
	}
	fmt.Fprintln(w, "\ntrails of the sessions still wrong (every operation that concerned each):")
	for n, id := range ids {
		if n == maxTrails {
			fmt.Fprintf(w, "  (%d more sessions)\n", len(ids)-n)
			break
		}
		owner := owners[id]
		var mine []*opRecord
		for i := range ops {
			op := &ops[i]
			if op.sess == id || op.kind == opRotate && op.detail == id ||
				op.kind == opEndOwner && owner != "" && op.detail == owner {
				mine = append(mine, op)
			}
		}
		sort.SliceStable(mine, func(i, j int) bool { return mine[i].inv.Before(mine[j].inv) })
		fmt.Fprintf(w, "  session %s (owner %q), %d operations:\n", id, owner, len(mine))
		if locate != nil {
			fmt.Fprintf(w, "    copies now: %s\n", locate(tokens[id]))
		}
		for k, op := range mine {
			if k == maxTrailOps {
				fmt.Fprintf(w, "    (%d more)\n", len(mine)-k)
				break
			}
			kind := quiet
			if win := tl.at(op.inv, op.done); win != nil {
				kind = win.kind
			}
			line := fmt.Sprintf("    %s +%.1fms %-8s %-7s via %s [%s]", op.inv.Format("15:04:05.000"),
				float64(op.done.Sub(op.inv).Microseconds())/1000, op.kind, op.out, names[op.node], kind)
			if op.detail != "" && op.detail != id {
				line += " " + op.detail
			}
			if op.msg != 0 {
				line += ": " + errs.text(op.msg)
			}
			fmt.Fprintln(w, line)
		}
	}
}
