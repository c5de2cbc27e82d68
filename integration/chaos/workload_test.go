package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A token whose id ends in "01" (slot 1).
const testToken = "v1.abcdefghijklmn01.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestClassify(t *testing.T) {
	node := newFakeNode(t, func(args []string) string {
		switch args[1] {
		case "tryagain":
			return errReply("TRYAGAIN write reached 1 of 3 replicas")
		case "down":
			return errReply("CLUSTERDOWN no members")
		case "nosession":
			return errReply(msgNoSession)
		case "drop":
			return "" // closes the connection after reading the command
		case "slow":
			time.Sleep(time.Second)
		}
		return "+OK\r\n"
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	cases := []struct {
		addr, arg string
		out       outcome
		avail     bool
	}{
		{node.addr, "ok", acked, false},
		{node.addr, "tryagain", unknown, true},
		{node.addr, "down", unknown, true},
		{node.addr, "nosession", failed, false},
		{node.addr, "drop", unknown, true},
		{node.addr, "slow", unknown, true},
		{refused, "ok", failed, true},
	}
	for _, c := range cases {
		cl := dial(c.addr, 1, 200*time.Millisecond)
		err := cl.Do(context.Background(), "X", c.arg).Err()
		cl.Close()
		out, avail := classify(err)
		if out != c.out || avail != c.avail {
			t.Errorf("%s: %v -> (%v, %v), want (%v, %v)", c.arg, err, out, avail, c.out, c.avail)
		}
	}
}

// testWorker is a worker with one node, the fake.
func testWorker(t *testing.T, reply func(args []string) string) *worker {
	node := newFakeNode(t, reply)
	cl := dial(node.addr, 2, 500*time.Millisecond)
	t.Cleanup(func() { cl.Close() })
	return newWorker(1, 2, []*redis.Client{cl}, []string{"fake"}, "k", 256, &anomalies{}, newErrorTable())
}

func liveSession(w *worker) *session {
	s := &session{token: testToken, part: 1, regs: map[string]*register{}}
	s.setDeadline(time.Hour, time.Now(), time.Now(), acked)
	w.all = append(w.all, s)
	w.live = append(w.live, s)
	return s
}

func TestRotateEndsTheOldSessionAndCarriesPayloads(t *testing.T) {
	newTok := strings.Replace(testToken, "abcdefghijklmn", "zyxwvutsrqponm", 1)
	w := testWorker(t, func(args []string) string { return bulk(newTok) })
	s := liveSession(w)
	s.regs["user"] = reg(write{value: "a", out: acked})
	w.rotate(s)
	if !s.ended || len(w.live) != 1 || w.live[0].token != newTok {
		t.Fatalf("after ROTATE: old ended=%v, live %v", s.ended, w.live)
	}
	if n := w.live[0]; n.ended || n.regs["user"].judgeFinal("a", true) != readOK {
		t.Fatalf("the new session did not inherit the payload: %+v", n)
	}
}

func TestUnansweredEndMakesTheSessionUncertain(t *testing.T) {
	w := testWorker(t, func(args []string) string { return "" })
	s := liveSession(w)
	w.end(s)
	if s.ended || !s.maybeEnded || len(w.live) != 0 {
		t.Fatalf("after an unanswered END: ended=%v maybeEnded=%v live=%d", s.ended, s.maybeEnded, len(w.live))
	}
	if w.focus != s {
		t.Fatal("an unanswered operation did not make the session the focus")
	}
}

func TestStaleReadIsRecorded(t *testing.T) {
	w := testWorker(t, func(args []string) string { return bulk("old") })
	s := liveSession(w)
	s.regs["user"] = reg(write{value: "old", out: acked}, write{value: "new", out: acked})
	s.regs["cart"], s.regs["csrf"] = s.regs["user"], s.regs["user"]
	w.pget(s)
	if rec := w.ops[len(w.ops)-1]; !rec.stale || len(w.anom.entries) != 1 {
		t.Fatalf("a read of an older value: stale=%v, anomalies %v", rec.stale, w.anom.entries)
	}
}

func TestMissingSessionIsStaleOnlyWhenItMustExist(t *testing.T) {
	w := testWorker(t, func(args []string) string { return errReply(msgNoSession) })
	s := liveSession(w)
	w.pget(s)
	if rec := w.ops[len(w.ops)-1]; !rec.stale || rec.out != acked || len(w.live) != 0 {
		t.Fatalf("live session reported missing: stale=%v out=%v live=%d", rec.stale, rec.out, len(w.live))
	}
	expired := &session{token: testToken, regs: map[string]*register{}}
	expired.setDeadline(time.Second, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour), acked)
	w.pget(expired)
	if rec := w.ops[len(w.ops)-1]; rec.stale {
		t.Fatal("an expired session reported missing counted as stale")
	}
}

func TestFocusRetriesOnAnotherNode(t *testing.T) {
	var silent, good *fakeNode
	silent = newFakeNode(t, func(args []string) string { return "" })
	good = newFakeNode(t, func(args []string) string { return bulk("v") })
	var nodes []*redis.Client
	for _, n := range []*fakeNode{silent, good} {
		cl := dial(n.addr, 2, 500*time.Millisecond)
		t.Cleanup(func() { cl.Close() })
		nodes = append(nodes, cl)
	}
	w := newWorker(3, 4, nodes, []string{"silent", "good"}, "k", 256, &anomalies{}, newErrorTable())
	s := liveSession(w)
	for w.focus == nil { // until an operation lands on the silent node
		w.pset(s)
	}
	w.step()
	last := w.ops[len(w.ops)-1]
	if last.kind != opPGet || last.node != 1 || w.focus != nil {
		t.Fatalf("after a lost answer the next step was kind %d on node %d (focus %v)", last.kind, last.node, w.focus)
	}
}

func TestRetryAvoidsNodesThatDidNotAnswer(t *testing.T) {
	silent := func(args []string) string { return "" }
	var nodes []*redis.Client
	for _, n := range []*fakeNode{newFakeNode(t, silent), newFakeNode(t, silent),
		newFakeNode(t, func(args []string) string { return "+OK\r\n" })} {
		cl := dial(n.addr, 2, 500*time.Millisecond)
		t.Cleanup(func() { cl.Close() })
		nodes = append(nodes, cl)
	}
	w := newWorker(5, 6, nodes, []string{"a", "b", "good"}, "k", 256, &anomalies{}, newErrorTable())
	s := liveSession(w)
	now := time.Now()
	for w.focus == nil || !now.Before(w.suspect[0]) || !now.Before(w.suspect[1]) {
		w.pset(s)
		now = time.Now()
	}
	w.step()
	if last := w.ops[len(w.ops)-1]; last.node != 2 {
		t.Fatalf("the retry went to node %d, with both silent nodes suspect", last.node)
	}
}

func TestFrozenSessionsAreLeftAlone(t *testing.T) {
	w := testWorker(t, func(args []string) string { return "+OK\r\n" })
	a := liveSession(w)
	liveSession(w)
	a.frozen = true
	w.focus = a
	for i := 0; i < 50; i++ {
		w.step()
	}
	for _, s := range w.live {
		if s == a {
			t.Fatal("a frozen session is still in use")
		}
	}
	if w.focus == a {
		t.Fatal("a frozen session is still the focus")
	}
}

// A pipelined PSET records one write per payload, each judged by its own reply: an answered
// one acknowledged, a TRYAGAIN unknown and the session the focus.
func TestPipelinedPSetJudgesEachReply(t *testing.T) {
	n := 0
	w := testWorker(t, func(args []string) string {
		if args[0] != "SESSIONGATE.PSET" {
			return errReply("ERR unexpected " + args[0])
		}
		n++
		if n == 2 {
			return errReply("TRYAGAIN partition 3 is still being handed over")
		}
		return "+OK\r\n"
	})
	s := liveSession(w)
	w.psetPipeline(s)
	var writes []write
	for _, r := range s.regs {
		writes = append(writes, r.writes...)
	}
	if len(writes) < 2 || len(writes) != n {
		t.Fatalf("%d writes recorded for %d commands sent", len(writes), n)
	}
	outs := map[outcome]int{}
	for _, wr := range writes {
		outs[wr.out]++
	}
	if outs[acked] != len(writes)-1 || outs[unknown] != 1 {
		t.Fatalf("outcomes %v, want one unknown and the rest acknowledged", outs)
	}
	if w.focus != s {
		t.Fatal("a pipelined write without an answer did not make the session the focus")
	}
	if len(w.ops) != len(writes) {
		t.Fatalf("%d ops recorded for %d writes", len(w.ops), len(writes))
	}
}
