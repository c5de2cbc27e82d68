package main

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// reg builds a register from writes given as (value, outcome) issued 10 ms apart, each
// answered 5 ms after it was sent.
func reg(ws ...write) *register {
	r := &register{}
	for i, w := range ws {
		w.inv, w.done = at(10*i), at(10*i+5)
		r.writes = append(r.writes, w)
	}
	return r
}

func TestJudgeRead(t *testing.T) {
	r := reg(write{value: "a", out: acked}, write{value: "b", out: unknown}, write{value: "c", out: acked},
		write{value: "d", out: failed})
	cases := []struct {
		name    string
		inv     time.Time
		value   string
		present bool
		want    readVerdict
	}{
		{"before any ack, missing is fine", at(1), "", false, readOK},
		{"after the first ack, missing is stale", at(6), "", false, readStale},
		{"the last acknowledged value", at(30), "c", true, readOK},
		{"an older acknowledged value", at(30), "a", true, readStale},
		{"an unknown write before the last ack landed late", at(30), "b", true, readLate},
		{"an unknown write after the last ack at read time", at(12), "b", true, readOK},
		{"a value never written", at(30), "zz", true, readStale},
		{"a write answered with an error took effect", at(30), "d", true, readPhantom},
		{"a read begun before the ack may see the older value", at(24), "a", true, readOK},
	}
	for _, c := range cases {
		if got := r.judgeRead(c.inv, c.value, c.present); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestJudgeFinal(t *testing.T) {
	r := reg(write{value: "a", out: acked}, write{value: "b", out: unknown}, write{value: "c", out: acked},
		write{value: "d", out: unknown})
	cases := []struct {
		value   string
		present bool
		want    readVerdict
	}{
		{"c", true, readOK},
		{"d", true, readOK}, // an unknown write after the last ack may have landed
		{"b", true, readLate},
		{"a", true, readLost},
		{"", false, readLost},
	}
	for _, c := range cases {
		if got := r.judgeFinal(c.value, c.present); got != c.want {
			t.Errorf("final read %q present=%v: got %v, want %v", c.value, c.present, got, c.want)
		}
	}
	empty := reg(write{value: "x", out: failed})
	if got := empty.judgeFinal("", false); got != readOK {
		t.Errorf("no acknowledged write, missing: got %v, want ok", got)
	}
}

func TestSessionExpect(t *testing.T) {
	s := &session{dlMin: at(60_000), dlMax: at(60_100)}
	cases := []struct {
		name string
		edit func(*session)
		at   time.Time
		want expectation
	}{
		{"well before the deadline", nil, at(10_000), expectPresent},
		{"within the margin of the deadline", nil, at(59_000), expectEither},
		{"well past the deadline", nil, at(65_000), expectAbsent},
		{"ended", func(s *session) { s.ended = true }, at(10_000), expectAbsent},
		{"maybe ended", func(s *session) { s.maybeEnded = true }, at(10_000), expectEither},
	}
	for _, c := range cases {
		x := *s
		if c.edit != nil {
			c.edit(&x)
		}
		if got := x.expect(c.at); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSetDeadline(t *testing.T) {
	s := &session{}
	s.setDeadline(time.Minute, at(0), at(10), acked)
	if !s.dlMin.Equal(at(60_000)) || !s.dlMax.Equal(at(60_010)) {
		t.Fatalf("acked: window %v..%v", s.dlMin, s.dlMax)
	}
	s.setDeadline(time.Hour, at(100), at(110), failed)
	if !s.dlMax.Equal(at(60_010)) {
		t.Fatalf("a failed EXPIRE moved the deadline to %v", s.dlMax)
	}
	s.setDeadline(2*time.Minute, at(200), at(210), unknown)
	if !s.dlMin.Equal(at(60_000)) || !s.dlMax.Equal(at(120_210)) {
		t.Fatalf("unknown: window %v..%v, want the union", s.dlMin, s.dlMax)
	}
	// Once an EXPIRE's fate is unknown it may land later still: acks only widen the window.
	s.setDeadline(10*time.Second, at(300), at(310), acked)
	if !s.dlMin.Equal(at(10_300)) || !s.dlMax.Equal(at(120_210)) {
		t.Fatalf("acked after unknown: window %v..%v", s.dlMin, s.dlMax)
	}
}

func TestRotatedCopiesRegisters(t *testing.T) {
	s := &session{token: "old", owner: "u", regs: map[string]*register{"user": reg(write{value: "a", out: acked})}}
	n := s.rotated("new", 7)
	n.regs["user"].writes = append(n.regs["user"].writes, write{value: "b", out: acked})
	if len(s.regs["user"].writes) != 1 {
		t.Fatal("a write to the rotated session changed the old one's history")
	}
	if n.token != "new" || n.part != 7 || n.owner != "u" {
		t.Fatalf("rotated session %+v", n)
	}
}

func TestAckedWrites(t *testing.T) {
	s := &session{regs: map[string]*register{
		"user": reg(write{value: "a", out: acked}),
		"cart": reg(write{value: "b", out: unknown}),
	}}
	if got := s.ackedWrites(); got != 2 {
		t.Fatalf("ackedWrites = %d, want 2 (the creation and user)", got)
	}
}
