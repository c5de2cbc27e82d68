package main

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

func TestScheduleRunsEveryKindFirst(t *testing.T) {
	s := newSchedule(faultKinds, rand.New(rand.NewPCG(1, 1)))
	seen := map[string]bool{}
	for range faultKinds {
		k, first := s.next()
		if !first || seen[k] {
			t.Fatalf("first round repeated %s (first=%v)", k, first)
		}
		seen[k] = true
	}
	if !s.roundDone() {
		t.Fatal("round not done after every kind ran")
	}
	if k, first := s.next(); first || !contains(faultKinds, k) {
		t.Fatalf("after the round: %s, first=%v", k, first)
	}
}

func op(inv, done int, out outcome, avail bool, node int8, part int16) opRecord {
	return opRecord{inv: at(inv), done: at(done), out: out, avail: avail, node: node, part: part}
}

func TestAggregateAttributesOpsToWindows(t *testing.T) {
	w := &window{kind: "pause", start: at(1000), healed: at(3000), end: at(4000), converge: time.Second,
		converged: true, down: map[string][2]time.Time{"n2": {at(1000), at(3000)}}}
	tl := &timeline{windows: []*window{w}, names: []string{"n1", "n2"}}
	stale := op(1500, 1600, acked, false, 0, 9)
	stale.stale = true
	quietStale := op(8100, 8200, acked, false, 0, 9)
	quietStale.stale = true
	ops := []opRecord{
		op(0, 10, acked, false, 0, 5),       // quiet
		op(1100, 6100, unknown, true, 0, 5), // partition 5 stops answering through n1
		op(1200, 7200, unknown, true, 1, 6), // through the paused node: not the cluster's gap
		op(6200, 6300, acked, false, 0, 5),  // partition 5 answers again, after the window
		op(5000, 5010, failed, false, 0, 7), // quiet, a definite error
		op(8000, 8010, acked, false, 1, -1), // quiet
		stale, quietStale,
	}
	first := map[string]firstSeen{
		"s1":      {"pause", wrongItem{verdictSessionLost, 3}}, // still lost at the end
		"s2/user": {"pause", wrongItem{readLost, 1}},           // right again by the end
		"s3":      {quiet, wrongItem{verdictResurrected, 1}},
		"s4/cart": {"pause", wrongItem{readLate, 1}},
	}
	final := checkResult{wrong: map[string]wrongItem{"s1": {verdictSessionLost, 3}, "s3": {verdictResurrected, 1}}}
	rows := aggregate(tl, []string{"kill", "pause"}, ops, nil, first, final, at(9000))
	byKind := map[string]row{}
	for _, r := range rows {
		byKind[r.kind] = r
	}
	p := byKind["pause"]
	if p.runs != 1 || p.ops != 3 || p.acked != 1 || p.unknown != 2 || p.staleFault != 1 || p.staleAfter != 2 ||
		p.lost != 3 || p.late != 1 || p.resurrected != 0 {
		t.Fatalf("pause row %+v", p)
	}
	if p.unavail != 5200*time.Millisecond || p.worst.part != 5 {
		t.Fatalf("pause unavailability %v on %d, want 5.2s on partition 5 (from the first unanswered op to the next answer)",
			p.unavail, p.worst.part)
	}
	q := byKind[quiet]
	if q.ops != 5 || q.failed != 1 || q.resurrected != 1 || q.staleAfter != 2 || q.unavail != 0 {
		t.Fatalf("quiet row %+v", q)
	}
	if k := byKind["kill"]; k.runs != 0 || k.ops != 0 {
		t.Fatalf("kill row %+v", k)
	}
	total := rows[len(rows)-1]
	if total.kind != "total" || total.ops != 8 || total.lost != 3 || total.resurrected != 1 || total.staleAfter != 4 {
		t.Fatalf("total %+v", total)
	}
	var buf bytes.Buffer
	printTable(&buf, rows)
	if !strings.Contains(buf.String(), "resurrected") || strings.Count(buf.String(), "\n") != len(rows)+1 {
		t.Fatalf("table:\n%s", buf.String())
	}
}

func TestAnomaliesNameTheirFault(t *testing.T) {
	tl := &timeline{windows: []*window{{kind: "isolate", start: at(1000), end: at(2000)}}}
	a := &anomalies{}
	a.add(at(3000), "after")
	a.add(at(1500), "during")
	var buf bytes.Buffer
	a.print(&buf, tl)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "[isolate] during") || !strings.Contains(lines[1], "[none] after") {
		t.Fatalf("anomalies:\n%s", buf.String())
	}
}

func TestUnavailabilityRunsToTheEnd(t *testing.T) {
	tl := &timeline{names: []string{"n1"}}
	gaps := unavailability(tl, []opRecord{op(100, 200, unknown, true, 0, 1)}, at(1100))
	if len(gaps) != 1 || gaps[0].length != time.Second {
		t.Fatalf("gaps %+v, want one of 1s up to the end of the run", gaps)
	}
}

func TestProbeEndsTheGap(t *testing.T) {
	tl := &timeline{names: []string{"n1"}}
	probe := op(300, 350, acked, false, 0, 1)
	probe.kind = opProbe
	gaps := unavailability(tl, []opRecord{op(100, 5100, unknown, true, 0, 1), probe}, at(9000))
	if len(gaps) != 1 || gaps[0].length != 250*time.Millisecond {
		t.Fatalf("gaps %+v, want one of 250ms, ended by the probe", gaps)
	}
}

func TestWriteHistory(t *testing.T) {
	path := t.TempDir() + "/history.jsonl"
	errs := newErrorTable()
	o := op(200, 300, unknown, true, 1, 4)
	o.kind, o.msg = opPSet, errs.intern(errors.New("TRYAGAIN partition 4 is still being handed over"), unknown)
	o.sess, o.detail = idOf("v1.abcdefghijklmnop.0123"), "cart=w1.7"
	w := &window{kind: "kill", nodes: []string{"n2"}, start: at(100), healed: at(400), end: at(500)}
	if err := writeHistory(path, []*window{w}, []opRecord{o}, []string{"n1", "n2"}, errs); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"fault":"kill"`) ||
		!strings.Contains(lines[1], `"op":"PSET"`) || !strings.Contains(lines[1], `"err":"TRYAGAIN partition # is still being handed over"`) ||
		!strings.Contains(lines[1], `"session":"abcdefghijklmnop","detail":"cart=w1.7"`) {
		t.Fatalf("history:\n%s", raw)
	}
}
