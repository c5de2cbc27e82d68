package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// convergedOnce reports nil when every node answers, sees the same alive members (as many
// as there are nodes) and has no under-replicated partition.
func convergedOnce(ctx context.Context, nodes []*redis.Client) error {
	var first []string
	for i, c := range nodes {
		res, err := c.Do(ctx, "SESSIONGATE.CLUSTER", "MEMBERS").Slice()
		if err != nil {
			return fmt.Errorf("node %d: MEMBERS: %w", i, err)
		}
		names, err := aliveMembers(res)
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		if len(names) != len(nodes) {
			return fmt.Errorf("node %d sees %d alive members (%s), want %d", i, len(names), strings.Join(names, ","), len(nodes))
		}
		if first == nil {
			first = names
		} else if strings.Join(first, ",") != strings.Join(names, ",") {
			return fmt.Errorf("node %d sees members %v, node 0 %v", i, names, first)
		}
		under, err := c.Do(ctx, "SESSIONGATE.CLUSTER", "UNDERREPLICATED").Slice()
		if err != nil {
			return fmt.Errorf("node %d: UNDERREPLICATED: %w", i, err)
		}
		if len(under) > 0 {
			return fmt.Errorf("node %d: %d partitions under-replicated", i, len(under))
		}
	}
	return nil
}

// aliveMembers reads the sorted names of alive members from a MEMBERS reply (an array of
// flat name/value arrays).
func aliveMembers(res []any) ([]string, error) {
	var names []string
	for _, e := range res {
		m, ok := fields(e)
		if !ok {
			return nil, errors.New("MEMBERS: malformed entry")
		}
		if name, _ := m["name"].(string); m["state"] == "alive" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// fields reads one entry of a map-shaped reply (a flat name/value array, as RESP2 sends
// maps); ok is false when it is not one.
func fields(e any) (m map[string]any, ok bool) {
	pairs, ok := e.([]any)
	if !ok || len(pairs)%2 != 0 {
		return nil, false
	}
	m = make(map[string]any, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		k, _ := pairs[i].(string)
		m[k] = pairs[i+1]
	}
	return m, true
}

// waitConverged polls until convergedOnce succeeds or timeout passes.
func waitConverged(ctx context.Context, nodes []*redis.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := convergedOnce(ctx, nodes)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v: %w", timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// wrongItem is one item (a session, or one payload of a session) a check found wrong.
type wrongItem struct {
	v      readVerdict
	weight int // the acknowledged writes it stands for
}

// checkResult is one check of the whole history.
type checkResult struct {
	wrong      map[string]wrongItem
	unreadable int
	reads      int
}

// count sums the wrong items of one kind whose items pass keep.
func (r checkResult) count(keep func(item string) bool) (lost, resurrected, late, phantom int) {
	for item, w := range r.wrong {
		if !keep(item) {
			continue
		}
		switch w.v {
		case readLost, verdictSessionLost:
			lost += w.weight
		case verdictResurrected:
			resurrected++
		case readLate:
			late++
		case readPhantom, verdictUnexpected:
			phantom++
		}
	}
	return
}

// bad reports a loss, a resurrection, a phantom write or an unreadable item.
func (r checkResult) bad() bool {
	l, res, _, p := r.count(func(string) bool { return true })
	return l+res+p+r.unreadable > 0
}

func (r checkResult) String() string {
	l, res, late, p := r.count(func(string) bool { return true })
	return fmt.Sprintf("%d lost, %d resurrected, %d late, %d phantom, %d unreadable", l, res, late, p, r.unreadable)
}

// firstSeen is when and how an item was first found wrong.
type firstSeen struct {
	phase string // the fault whose check found it, or quiet
	wrongItem
}

// checker reads the whole history back through every node.
type checker struct {
	nodes []*redis.Client
	names []string
	key   string
	anom  *anomalies
	first map[string]firstSeen
}

// read is one PGET of the check and what it must show.
type read struct {
	s    *session
	name string
	res  any
	err  error
	sent time.Time
	recv time.Time
}

// reads lists what to read of each session: every register it has, or one name.
func reads(all []*session) []*read {
	var out []*read
	for _, s := range all {
		if len(s.regs) == 0 {
			out = append(out, &read{s: s, name: payloadNames[0]})
			continue
		}
		for _, name := range payloadNames {
			if s.regs[name] != nil {
				out = append(out, &read{s: s, name: name})
			}
		}
	}
	return out
}

// check reads every session through the nodes listed in through (indexes in c.nodes)
// after phase (a fault kind, or quiet). Availability errors are retried for a while: the
// cluster is expected to have converged. Items found wrong for the first time are
// remembered with phase and reported, and their sessions frozen. The caller must keep the
// workload stopped meanwhile.
func (c *checker) check(ctx context.Context, all []*session, phase string, through []int) checkResult {
	res := checkResult{wrong: map[string]wrongItem{}}
	for _, ni := range through {
		node := c.nodes[ni]
		pending := reads(all)
		res.reads += len(pending)
		for attempt := 0; len(pending) > 0 && attempt < 30 && ctx.Err() == nil; attempt++ {
			if attempt > 0 {
				sleep(ctx, 500*time.Millisecond)
			}
			c.pipeline(ctx, node, pending)
			var again []*read
			for _, r := range pending {
				if _, avail := classify(r.err); avail {
					again = append(again, r)
					continue
				}
				item, v, why := judgeCheck(r)
				if _, dup := res.wrong[item]; v == readOK || dup {
					continue
				}
				w := wrongItem{v, 1}
				if v == verdictSessionLost {
					w.weight = r.s.ackedWrites()
				}
				res.wrong[item] = w
				r.s.frozen = true
				if _, seen := c.first[item]; !seen {
					c.first[item] = firstSeen{phase, w}
					c.anom.add(r.recv, "check after %s, through %s: %s", phase, c.names[ni], why)
				}
			}
			pending = again
		}
		for _, r := range pending {
			res.unreadable++
			c.anom.add(r.recv, "check after %s, through %s: %s %s unreadable: %v", phase, c.names[ni], r.s.token, r.name, r.err)
		}
	}
	return res
}

// pipeline sends the reads in batches.
func (c *checker) pipeline(ctx context.Context, node *redis.Client, rs []*read) {
	const batch = 200
	for i := 0; i < len(rs); i += batch {
		part := rs[i:min(i+batch, len(rs))]
		p := node.Pipeline()
		cmds := make([]*redis.Cmd, len(part))
		for j, r := range part {
			cmds[j] = p.Do(ctx, "SESSIONGATE.PGET", c.key, r.s.token, r.name)
		}
		sent := time.Now()
		p.Exec(ctx)
		recv := time.Now()
		for j, r := range part {
			r.res, r.err = cmds[j].Result()
			r.sent, r.recv = sent, recv
		}
	}
}

// judgeCheck judges one read of the check: the item it concerns, its verdict, and why.
func judgeCheck(r *read) (item string, v readVerdict, why string) {
	s := r.s
	exp := s.expect(r.recv)
	if s.expect(r.sent) == expectAbsent {
		exp = expectAbsent
	}
	present := r.err == nil || isMsg(r.err, msgNoPayload)
	switch {
	case isMsg(r.err, msgNoSession):
		if exp != expectPresent {
			return s.token, readOK, ""
		}
		return s.token, verdictSessionLost, fmt.Sprintf("session %s lost (%s)", s.token, s.describe(r.recv))
	case !present:
		return s.token + "/" + r.name, verdictUnexpected, fmt.Sprintf("%s %s: unexpected reply %v", s.token, r.name, r.err)
	case exp == expectAbsent:
		return s.token, verdictResurrected, fmt.Sprintf("session %s, which %s, is back: %v", s.token, s.goneWhy(r.sent), r.res)
	}
	reg := s.regs[r.name]
	if reg == nil {
		reg = &register{}
	}
	got, _ := r.res.(string)
	v = reg.judgeFinal(got, r.err == nil)
	want := "(none)"
	if la := reg.lastAcked(farFuture); la >= 0 {
		w := reg.writes[la]
		want = fmt.Sprintf("%s, acknowledged at %s", w.value, w.done.Format(time.StampMilli))
	}
	return s.token + "/" + r.name, v, fmt.Sprintf("%s %s: %s (got %q present=%v, last acknowledged %s; %s)",
		s.token, r.name, v, got, r.err == nil, want, s.describe(r.recv))
}
