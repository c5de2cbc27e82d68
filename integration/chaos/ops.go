package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The workload's operations on one session (or owner): each records what it sent and what
// came back, and keeps the model of what must hold in step with acknowledged writes.

func (w *worker) pset(s *session) {
	name := payloadNames[w.rng.IntN(len(payloadNames))]
	w.seq++
	value := fmt.Sprintf("w%d.%d", w.id, w.seq)
	_, err, rec := w.call(opPSet, s, "SESSIONGATE.PSET", w.key, s.token, name, value)
	s.written(name, write{value: value, inv: rec.inv, done: rec.done, out: rec.out})
	if isMsg(err, msgNoSession) {
		w.gone(s, rec, "PSET")
	}
}

// psetPipeline writes two or three payloads of s in one pipeline through one node, as a
// backend that saves a request's changes together would. They share a slot, so its primary
// runs them as one group and replicates them together (node/group.go); each reply is judged
// as a PSET's own. A pipeline is not retried on another node: a failed connection fails it.
func (w *worker) psetPipeline(s *session) {
	i := w.order()[0]
	if i == w.avoid && len(w.nodes) > 1 {
		i = w.order()[1]
	}
	names := payloadNames[:2+w.rng.IntN(len(payloadNames)-1)]
	order := w.rng.Perm(len(names))
	values := make([]string, len(names))
	cmds := make([]*redis.Cmd, len(names))
	pipe := w.nodes[i].Pipeline()
	for j, k := range order {
		w.seq++
		values[j] = fmt.Sprintf("w%d.%d", w.id, w.seq)
		cmds[j] = pipe.Do(context.Background(), "SESSIONGATE.PSET", w.key, s.token, names[k], values[j])
	}
	inv := time.Now()
	pipe.Exec(context.Background()) // each command's own error is judged below
	done := time.Now()
	var focus, goneRec *opRecord
	for j, k := range order {
		err := cmds[j].Err()
		out, avail := classify(err)
		if err != nil && !isRedisError(err) {
			w.suspect[i] = time.Now().Add(suspectFor)
		}
		w.ops = append(w.ops, opRecord{inv: inv, done: done, kind: opPSet, out: out, avail: avail,
			node: int8(i), part: int16(s.part), msg: w.errs.intern(err, out),
			sess: idOf(s.token), detail: names[k] + "=" + values[j]})
		rec := &w.ops[len(w.ops)-1]
		s.written(names[k], write{value: values[j], inv: inv, done: done, out: out})
		if avail && out != acked && focus == nil {
			focus = rec
		}
		if isMsg(err, msgNoSession) && goneRec == nil {
			goneRec = rec
		}
	}
	switch {
	case goneRec != nil:
		w.gone(s, goneRec, "PSET (pipelined)")
	case focus != nil:
		w.focus, w.avoid = s, i
		if w.probe != nil {
			w.probe.open(int16(s.part), s.token)
		}
	}
}

// written records a write to the payload name of s.
func (s *session) written(name string, wr write) {
	r := s.regs[name]
	if r == nil {
		r = &register{}
		s.regs[name] = r
	}
	r.writes = append(r.writes, wr)
}

// isRedisError reports whether err is a server's reply, not a failure to get one.
func isRedisError(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr)
}

func (w *worker) pget(s *session) {
	name := payloadNames[w.rng.IntN(len(payloadNames))]
	res, err, rec := w.call(opPGet, s, "SESSIONGATE.PGET", w.key, s.token, name)
	r := s.regs[name]
	if r == nil {
		r = &register{}
	}
	var v readVerdict
	switch {
	case err == nil:
		got, _ := res.(string)
		v = r.judgeRead(rec.inv, got, true)
	case isMsg(err, msgNoPayload):
		v = r.judgeRead(rec.inv, "", false)
	case isMsg(err, msgNoSession):
		w.gone(s, rec, "PGET")
		return
	default:
		return
	}
	if v != readOK {
		rec.stale = rec.stale || v == readStale
		w.anom.add(rec.inv, "PGET %s %s through %s: %s read (got %v, %v; %s)", s.token, name, w.names[rec.node],
			v, res, err, s.describe(rec.inv))
	}
}

func (w *worker) expire(s *session, ttl time.Duration) {
	_, err, rec := w.call(opExpire, s, "SESSIONGATE.EXPIRE", w.key, s.token, int(ttl/time.Second))
	if ttl == 0 {
		w.ended(s, rec)
		return
	}
	s.setDeadline(ttl, rec.inv, rec.done, rec.out)
	if isMsg(err, msgNoSession) {
		w.gone(s, rec, "EXPIRE")
	}
}

// ended records an operation that ends s (END, EXPIRE 0, ROTATE, ENDOWNER).
func (w *worker) ended(s *session, rec *opRecord) {
	switch rec.out {
	case acked:
		s.ended = true
	case unknown:
		s.maybeEnded = true
	}
	w.retire(s)
}

func (w *worker) end(s *session) {
	_, _, rec := w.call(opEnd, s, "SESSIONGATE.END", w.key, s.token)
	w.ended(s, rec)
}

func (w *worker) rotate(s *session) {
	res, _, rec := w.call(opRotate, s, "SESSIONGATE.ROTATE", w.key, s.token)
	w.ended(s, rec)
	if rec.out != acked {
		return
	}
	tok, _ := res.(string)
	n := s.rotated(tok, w.partOf(tok))
	n.ended, n.maybeEnded, n.created = false, w.tainted[n.owner], rec.done
	w.all = append(w.all, n)
	w.live = append(w.live, n)
}

// endOwner logs the owner out everywhere: every session of it this worker made.
func (w *worker) endOwner(owner string) {
	var one *session
	for _, s := range w.all {
		if s.owner == owner {
			one = s // all of an owner's sessions share one partition
		}
	}
	_, _, rec := w.call(opEndOwner, one, "SESSIONGATE.ENDOWNER", w.key, owner)
	rec.detail = owner // it concerns every session of the owner, not only one's (trails)
	if rec.out == unknown {
		// It may still land, much later, and end sessions this owner opens meanwhile.
		w.tainted[owner] = true
	}
	for _, s := range w.all {
		if s.owner == owner && !s.ended {
			w.ended(s, rec)
		}
	}
}

// readGone reads a session that was ended or has expired: it must not come back.
func (w *worker) readGone() {
	now := time.Now()
	for try := 0; try < 5 && len(w.all) > 0; try++ {
		s := w.all[w.rng.IntN(len(w.all))]
		if s.expect(now) != expectAbsent {
			continue
		}
		res, err, rec := w.call(opReadGone, s, "SESSIONGATE.PGET", w.key, s.token, payloadNames[0])
		if err == nil || isMsg(err, msgNoPayload) {
			rec.stale = true
			w.anom.add(rec.inv, "PGET %s through %s: a session that %s answered (%v, %v)",
				s.token, w.names[rec.node], s.goneWhy(rec.inv), res, err)
		}
		return
	}
}
