package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
)

// slot is one virtual client of a connection: it has at most one request in flight, so a
// connection with pipeline depth d runs d slots, and a request that needs an earlier
// reply (the token START returned) simply waits for its slot's turn.
type slot struct {
	state int
	sess  session
}

// workload decides what each slot sends next. A workload belongs to one worker.
type workload interface {
	// next appends slot s's next request to w.
	next(s *slot, w *writer) op
	// done reports how that request ended: first is its first reply (valid only during
	// the call) and failed says whether any reply was wrong.
	done(s *slot, o op, first Reply, failed bool)
}

// The workloads.
const (
	workloadStart     = "start"
	workloadRead      = "read"
	workloadLifecycle = "lifecycle"
	workloadExtended  = "extended"
)

// The lifecycle workload's shape: START, lifePSets PSETs, lifePGets PGETs, EXPIRE, END.
const (
	lifePSets = 3
	lifePGets = 12
	lifeLen   = 1 + lifePSets + lifePGets + 2
)

// The extended workload's steps are cmdCreate..cmdEndOwner in the order they are declared.
const extendedLen = int(cmdEndOwner-cmdCreate) + 1

// newWorkload builds worker's workload. pool and z are used by the read workload only.
func newWorkload(name string, d dialect, pool []session, z *zipf, readRatio float64, rng *rand.Rand, worker int) (workload, error) {
	switch name {
	case workloadStart:
		return startOnly{d}, nil
	case workloadRead:
		return &readMix{d: d, pool: pool, z: z, ratio: readRatio, rng: rng}, nil
	case workloadLifecycle:
		return lifecycle{d}, nil
	case workloadExtended:
		return &extended{d: d, prefix: "sgbench-" + strconv.Itoa(worker) + "-"}, nil
	}
	return nil, fmt.Errorf("unknown workload %q", name)
}

// startOnly creates sessions and does nothing else with them.
type startOnly struct{ d dialect }

func (x startOnly) next(s *slot, w *writer) op { return x.d.start(w, &s.sess) }

func (startOnly) done(*slot, op, Reply, bool) {}

// readMix reads and writes one payload of sessions drawn from a pre-created pool.
type readMix struct {
	d     dialect
	pool  []session
	z     *zipf
	ratio float64
	rng   *rand.Rand
}

func (r *readMix) next(_ *slot, w *writer) op {
	sess := &r.pool[r.z.draw(r.rng)]
	if r.rng.Float64() < r.ratio {
		return r.d.pget(w, sess, nameA)
	}
	return r.d.pset(w, sess, nameA)
}

func (*readMix) done(*slot, op, Reply, bool) {}

// lifecycle walks each slot through one session's life and then starts the next.
type lifecycle struct{ d dialect }

// lifeNames holds the payload names a lifecycle writes and reads, one byte each.
const lifeNames = nameA + nameB + nameC

func lifeName(i int) string {
	i %= len(lifeNames)
	return lifeNames[i : i+1]
}

func (l lifecycle) next(s *slot, w *writer) op {
	switch st := s.state; {
	case st == 0:
		return l.d.start(w, &s.sess)
	case st <= lifePSets:
		return l.d.pset(w, &s.sess, lifeName(st-1))
	case st <= lifePSets+lifePGets:
		return l.d.pget(w, &s.sess, lifeName(st-1-lifePSets))
	case st == lifePSets+lifePGets+1:
		return l.d.expire(w, &s.sess)
	default:
		return l.d.end(w, &s.sess)
	}
}

func (l lifecycle) done(s *slot, o op, first Reply, failed bool) {
	if failed {
		s.state = 0 // the session may be gone: begin a new one
		return
	}
	if o.cmd == cmdStart {
		l.d.started(&s.sess, first)
	}
	s.state = (s.state + 1) % lifeLen
}

// extended walks each slot through the extended commands with a fresh owner each round:
// CREATE (OWNER, IDLE), INFO, PUPDATE, PGETALL, ROTATE, LIST, ENDOWNER.
type extended struct {
	d      dialect
	prefix string
	owners int
}

func (x *extended) next(s *slot, w *writer) op {
	switch cmdCreate + cmdKind(s.state) {
	case cmdCreate:
		x.owners++
		s.sess.owner = strconv.AppendInt(append(s.sess.owner[:0], x.prefix...), int64(x.owners), 10)
		return x.d.create(w, &s.sess)
	case cmdInfo:
		return x.d.info(w, &s.sess)
	case cmdPUpdate:
		return x.d.pupdate(w, &s.sess)
	case cmdPGetAll:
		return x.d.pgetall(w, &s.sess)
	case cmdRotate:
		return x.d.rotate(w, &s.sess)
	case cmdList:
		return x.d.list(w, &s.sess)
	default:
		return x.d.endOwner(w, &s.sess)
	}
}

func (x *extended) done(s *slot, o op, first Reply, failed bool) {
	if failed {
		s.state = 0
		return
	}
	if o.cmd == cmdCreate || o.cmd == cmdRotate {
		x.d.started(&s.sess, first)
	}
	s.state = (s.state + 1) % extendedLen
}
