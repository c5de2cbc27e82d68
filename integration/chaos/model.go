package main

import (
	"fmt"
	"time"
)

// outcome is what a client can know about one operation.
type outcome uint8

const (
	// acked: the node answered success; the system promised the effect.
	acked outcome = iota
	// failed: a definite error (an error reply other than TRYAGAIN/CLUSTERDOWN, or a
	// connection that could not be opened): the operation took no effect.
	failed
	// unknown: a timeout, a dropped connection or TRYAGAIN/CLUSTERDOWN: it may or may not
	// have taken effect, now or later.
	unknown
)

func (o outcome) String() string { return [...]string{"acked", "failed", "unknown"}[o] }

// write is one PSET of a register. Values are unique across the run, so a value read back
// names the write that produced it.
type write struct {
	value     string
	inv, done time.Time
	out       outcome
}

// register is one payload of one session: the writes issued to it, in issue order. A
// session's operations are issued one at a time by one worker, so issue order is real-time
// order.
type register struct {
	writes []write
}

// lastAcked is the index of the last acknowledged write done before t (-1: none).
func (r *register) lastAcked(t time.Time) int {
	for i := len(r.writes) - 1; i >= 0; i-- {
		if w := r.writes[i]; w.out == acked && w.done.Before(t) {
			return i
		}
	}
	return -1
}

func (r *register) index(value string) int {
	for i := len(r.writes) - 1; i >= 0; i-- {
		if r.writes[i].value == value {
			return i
		}
	}
	return -1
}

func (r *register) clone() *register {
	return &register{writes: append([]write(nil), r.writes...)}
}

// readVerdict judges a value read back from a register.
type readVerdict uint8

const (
	readOK readVerdict = iota
	// readStale: older than a write acknowledged before the read began (or missing).
	readStale
	// readLate: the value of an unknown write issued before the last acknowledged one,
	// which took effect after it. Nothing promised otherwise; reported, not failed.
	readLate
	// readLost: the last acknowledged value is gone (final check only).
	readLost
	// readPhantom: the value of a write answered with a definite error.
	readPhantom
	// verdictSessionLost (checks only): a session that must exist does not; every
	// acknowledged write of it is lost.
	verdictSessionLost
	// verdictResurrected (checks only): a session that must not exist answered.
	verdictResurrected
	// verdictUnexpected (checks only): an error reply that says nothing about the data.
	verdictUnexpected
)

func (v readVerdict) String() string {
	return [...]string{"ok", "stale", "late", "lost", "phantom", "session lost", "resurrected", "unexpected"}[v]
}

// judgeRead judges a read invoked at inv that returned value (present) or no payload. The
// read may see any write not older than the last one acknowledged before it began.
func (r *register) judgeRead(inv time.Time, value string, present bool) readVerdict {
	la := r.lastAcked(inv)
	return r.judge(la, value, present, readStale)
}

// judgeFinal judges a read made after every write finished: only the last acknowledged
// value, or that of an unknown write issued after it, is allowed.
func (r *register) judgeFinal(value string, present bool) readVerdict {
	return r.judge(r.lastAcked(farFuture), value, present, readLost)
}

var farFuture = time.Unix(1<<40, 0)

func (r *register) judge(la int, value string, present bool, older readVerdict) readVerdict {
	if !present {
		if la < 0 {
			return readOK
		}
		return older
	}
	i := r.index(value)
	switch {
	case i < 0:
		return older // a value never written: the acknowledged one is gone all the same
	case r.writes[i].out == failed:
		return readPhantom
	case i >= la:
		return readOK
	case r.writes[i].out == unknown:
		return readLate
	}
	return older
}

// expectation is what a session's existence should be at some moment.
type expectation uint8

const (
	expectPresent expectation = iota
	expectAbsent
	expectEither
)

// session is the client's knowledge of one acknowledged session.
type session struct {
	token   string
	owner   string
	part    int       // partition, from the token's slot
	created time.Time // when its creation was acknowledged
	short   bool
	// The session ends somewhere in [dlMin, dlMax]: deadlines are set by the primary between
	// a request's invocation and its answer, and unknown EXPIREs widen the window.
	dlMin, dlMax time.Time
	expUnknown   bool
	// ended: an END, EXPIRE 0, ROTATE or ENDOWNER covering it was acknowledged.
	ended bool
	// maybeEnded: such an operation's outcome is unknown.
	maybeEnded bool
	regs       map[string]*register
	// frozen: a check found it wrong. The workload leaves it alone from then on, so that the
	// final check shows whether the system put it right by itself (a later write would
	// only hide the loss).
	frozen bool
}

// margin covers the clock granularity of deadlines (whole milliseconds, set by the primary).
const margin = 1500 * time.Millisecond

// expect says whether the session must exist at t.
func (s *session) expect(t time.Time) expectation {
	switch {
	case s.ended, s.dlMax.Add(margin).Before(t):
		return expectAbsent
	case s.maybeEnded, !s.dlMin.After(t.Add(margin)):
		return expectEither
	}
	return expectPresent
}

// describe sums the session up for a report line.
func (s *session) describe(t time.Time) string {
	state := "live"
	switch {
	case s.ended:
		state = "ended"
	case s.maybeEnded:
		state = "maybe ended"
	}
	return fmt.Sprintf("partition %d, created %s, %s, deadline %s..%s", s.part, s.created.Format(time.StampMilli),
		state, s.dlMin.Format(time.StampMilli), s.dlMax.Format(time.StampMilli))
}

// goneWhy says why the session must be absent at t.
func (s *session) goneWhy(t time.Time) string {
	if s.ended {
		return "was ended"
	}
	return fmt.Sprintf("expired %v earlier (deadline window %s..%s)", t.Sub(s.dlMax).Round(time.Millisecond),
		s.dlMin.Format(time.StampMilli), s.dlMax.Format(time.StampMilli))
}

// setDeadline records an EXPIRE (or the creation) with ttl, invoked at inv and answered at
// done with out.
func (s *session) setDeadline(ttl time.Duration, inv, done time.Time, out outcome) {
	lo, hi := inv.Add(ttl), done.Add(ttl)
	switch {
	case out == failed:
	case out == acked && !s.expUnknown:
		s.dlMin, s.dlMax = lo, hi
	default:
		// An unknown EXPIRE may land at any time, even after a later acknowledged one.
		s.expUnknown = s.expUnknown || out == unknown
		s.dlMin, s.dlMax = minTime(s.dlMin, lo), maxTime(s.dlMax, hi)
	}
}

// rotated is the session a ROTATE of s returned: same payloads, owner and deadlines.
func (s *session) rotated(token string, part int) *session {
	n := *s
	n.token, n.part = token, part
	n.regs = make(map[string]*register, len(s.regs))
	for k, r := range s.regs {
		n.regs[k] = r.clone()
	}
	return &n
}

// ackedWrites counts what a lost session takes with it: its creation and the last
// acknowledged value of every payload.
func (s *session) ackedWrites() int {
	n := 1
	for _, r := range s.regs {
		if r.lastAcked(farFuture) >= 0 {
			n++
		}
	}
	return n
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
