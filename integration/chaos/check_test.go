package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterNode fakes a node's cluster views: the members it sees and its under-replicated count.
func clusterNode(t *testing.T, members func() string, under func() int) *redis.Client {
	n := newFakeNode(t, func(args []string) string {
		switch strings.ToUpper(args[1]) {
		case "MEMBERS":
			return members()
		case "UNDERREPLICATED":
			var items []string
			for i := 0; i < under(); i++ {
				items = append(items, array(bulk("partition"), ":1\r\n"))
			}
			return array(items...)
		}
		return errReply("ERR unknown")
	})
	c := dial(n.addr, 2, time.Second)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConvergedOnce(t *testing.T) {
	both := func() string { return array(member("n1", "alive"), member("n2", "alive")) }
	none := func() int { return 0 }
	cases := []struct {
		name    string
		members [2]func() string
		under   [2]func() int
		ok      bool
	}{
		{"agreed and replicated", [2]func() string{both, both}, [2]func() int{none, none}, true},
		{"one node sees a suspect", [2]func() string{both, func() string {
			return array(member("n1", "alive"), member("n2", "suspect"))
		}}, [2]func() int{none, none}, false},
		{"under-replicated partitions", [2]func() string{both, both}, [2]func() int{none, func() int { return 3 }}, false},
		{"the same count, other names", [2]func() string{both, func() string {
			return array(member("n1", "alive"), member("n9", "alive"))
		}}, [2]func() int{none, none}, false},
	}
	for _, c := range cases {
		nodes := []*redis.Client{clusterNode(t, c.members[0], c.under[0]), clusterNode(t, c.members[1], c.under[1])}
		if err := convergedOnce(context.Background(), nodes); (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestWaitConvergedPolls(t *testing.T) {
	var under atomic.Int64
	under.Store(5)
	members := func() string { return array(member("n1", "alive")) }
	node := clusterNode(t, members, func() int { return int(under.Add(-1) + 1) })
	if err := waitConverged(context.Background(), []*redis.Client{node}, time.Minute); err != nil {
		t.Fatalf("never converged: %v", err)
	}
	if under.Load() > 0 {
		t.Fatal("converged before the under-replicated count reached zero")
	}
}

func TestCheckFindsEachKindOnce(t *testing.T) {
	now := time.Now()
	mk := func(token string, edit func(*session)) *session {
		s := &session{token: token, regs: map[string]*register{}}
		s.setDeadline(time.Hour, now, now, acked)
		if edit != nil {
			edit(s)
		}
		return s
	}
	all := []*session{
		mk("fine", func(s *session) { s.regs["user"] = reg(write{value: "a", out: acked}) }),
		mk("lost", func(s *session) { s.regs["user"] = reg(write{value: "a", out: acked}) }),
		mk("back", func(s *session) { s.ended = true }),
		mk("late", func(s *session) {
			s.regs["user"] = reg(write{value: "x", out: unknown}, write{value: "y", out: acked})
		}),
		mk("phantom", func(s *session) { s.regs["user"] = reg(write{value: "p", out: failed}) }),
		mk("gone", func(s *session) { s.ended = true }),
	}
	node := newFakeNode(t, func(args []string) string {
		if len(args) != 4 {
			return errReply("ERR unexpected " + strings.Join(args, " "))
		}
		switch args[2] {
		case "fine":
			return bulk("a")
		case "lost", "gone":
			return errReply(msgNoSession)
		case "back":
			return errReply(msgNoPayload)
		case "late":
			return bulk("x")
		case "phantom":
			return bulk("p")
		}
		return errReply("ERR unexpected")
	})
	var nodes []*redis.Client
	for i := 0; i < 2; i++ { // the same node twice: each item is counted once
		c := dial(node.addr, 2, time.Second)
		defer c.Close()
		nodes = append(nodes, c)
	}
	ck := &checker{nodes: nodes, names: []string{"a", "b"}, key: "k", anom: &anomalies{}, first: map[string]firstSeen{}}
	res := ck.check(context.Background(), all, "pause", []int{0, 1})
	lost, resurrected, late, phantom := res.count(func(string) bool { return true })
	if lost != 2 || resurrected != 1 || late != 1 || phantom != 1 || res.reads != 12 || len(res.wrong) != 4 {
		t.Fatalf("check: %v over %d reads, %d wrong items", res, res.reads, len(res.wrong))
	}
	if !res.bad() {
		t.Fatal("a check with losses is not bad")
	}
	if f := ck.first["lost"]; f.phase != "pause" || f.v != verdictSessionLost || f.weight != 2 {
		t.Fatalf("first sight of the lost session: %+v", f)
	}
	if !all[1].frozen || all[0].frozen {
		t.Fatal("the check did not freeze exactly the sessions it found wrong")
	}
	lines := len(ck.anom.entries)
	res = ck.check(context.Background(), all, "kill", []int{1})
	if len(res.wrong) != 4 || len(ck.anom.entries) != lines || ck.first["lost"].phase != "pause" {
		t.Fatalf("a second check: %d wrong, %d new reports, first phase %q; want the same items, reported once",
			len(res.wrong), len(ck.anom.entries)-lines, ck.first["lost"].phase)
	}
}

func TestCheckRetriesUnavailableReads(t *testing.T) {
	var calls atomic.Int64
	node := newFakeNode(t, func(args []string) string {
		if calls.Add(1) <= 2 {
			return errReply("TRYAGAIN partition 1 is still being handed over")
		}
		return errReply(msgNoPayload)
	})
	c := dial(node.addr, 2, time.Second)
	defer c.Close()
	s := &session{token: "t", regs: map[string]*register{}}
	s.setDeadline(time.Hour, time.Now(), time.Now(), acked)
	ck := &checker{nodes: []*redis.Client{c}, names: []string{"a"}, key: "k", anom: &anomalies{}, first: map[string]firstSeen{}}
	if res := ck.check(context.Background(), []*session{s}, quiet, []int{0}); res.bad() || len(res.wrong) != 0 {
		t.Fatalf("a read that succeeded on the third try: %v", res)
	}
}
