package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiongate/sessiongate/sessions"
)

// The replies the workload tells apart (docs/commands.md).
const (
	msgNoSession = "the session id contained in <token> does not exist"
	msgNoPayload = "the requested <payload_name> does not exist"
)

// payloadNames are the registers of every session.
var payloadNames = []string{"user", "cart", "csrf"}

type opKind uint8

const (
	opStart opKind = iota
	opCreate
	opPSet
	opPGet
	opExpire
	opRotate
	opEnd
	opEndOwner
	opReadGone // a read of a session that must not exist any more
	opProbe    // the prober's read; not part of the workload's counts
)

// opRecord is one attempt as the client saw it; the report aggregates them by fault window.
type opRecord struct {
	inv, done time.Time
	kind      opKind
	out       outcome
	avail     bool   // failed or unknown because the cluster (not the request) was at fault
	stale     bool   // the reply showed state older than an acknowledged write
	node      int8   // the entry node
	part      int16  // the session's partition; -1 when unknown
	msg       uint16 // the error, interned in an errorTable (0: none)
	// sess and detail are for the history file: the session's id (the token's 16 characters)
	// and what the operation carried (a PSET's name=value, the id a ROTATE returned).
	sess, detail string
}

// idOf is a token's session id, or the token itself when it is too short to hold one.
func idOf(token string) string {
	if len(token) < 19 {
		return token
	}
	return token[3:19]
}

// classify turns a go-redis error into an outcome. avail is true for availability errors
// (no answer, TRYAGAIN, CLUSTERDOWN, refused connections), false for errors about the request.
func classify(err error) (out outcome, avail bool) {
	var rerr redis.Error
	var oe *net.OpError
	switch {
	case err == nil:
		return acked, false
	case errors.As(err, &rerr):
		msg := rerr.Error()
		if strings.HasPrefix(msg, "TRYAGAIN") || strings.HasPrefix(msg, "CLUSTERDOWN") {
			return unknown, true
		}
		return failed, false
	case errors.As(err, &oe) && oe.Op == "dial", errors.Is(err, redis.ErrPoolTimeout):
		return failed, true // never sent
	}
	return unknown, true
}

// worker is one client: it keeps a few sessions of its own and works on them one operation
// at a time, so the history of each session is sequential.
type worker struct {
	id    int
	rng   *rand.Rand
	nodes []*redis.Client
	names []string // the nodes' service names, for messages
	errs  *errorTable
	key   string
	parts int
	anom  *anomalies

	live []*session // sessions still in use
	all  []*session // every session whose creation was acknowledged
	ops  []opRecord
	seq  int
	// focus is a session whose last operation got no answer: the next operation reads it
	// again, as a user reloading the page would, until the cluster answers.
	focus *session
	// probe, when set, is told of partitions that stopped answering.
	probe *prober
	// suspect holds, per node, until when to prefer other nodes.
	suspect []time.Time
	// tainted owners had an ENDOWNER whose outcome is unknown: any of their sessions may end.
	tainted map[string]bool
	// avoid is the entry node of the focus's failed operation: the retry goes elsewhere,
	// as a client that fails over would (-1: none).
	avoid int
}

func newWorker(id int, seed uint64, nodes []*redis.Client, names []string, key string, parts int,
	anom *anomalies, errs *errorTable) *worker {
	return &worker{id: id, rng: rand.New(rand.NewPCG(seed, uint64(id)+1)), nodes: nodes, names: names, key: key,
		parts: parts, anom: anom, errs: errs, tainted: map[string]bool{}, avoid: -1,
		suspect: make([]time.Time, len(nodes))}
}

// maxLive is how many sessions a worker keeps in use at once (a browser per user, roughly).
const maxLive = 6

// call sends one command through a random node; a connection that cannot be opened is
// retried on another node (a load balancer would), each attempt recorded.
// Operations on s (nil for none) that get no answer make s the focus.
func (w *worker) call(kind opKind, s *session, args ...any) (any, error, *opRecord) {
	var res any
	var err error
	var rec *opRecord
	part := -1
	if s != nil {
		part = s.part
	}
	order := w.rng.Perm(len(w.nodes))
	if s != nil && s == w.focus {
		order = w.order() // a retry goes where answers come from
	}
	for _, i := range order {
		if i == w.avoid && s == w.focus && len(w.nodes) > 1 {
			continue
		}
		inv := time.Now()
		res, err = w.nodes[i].Do(context.Background(), args...).Result()
		out, avail := classify(err)
		if err != nil && !isRedisError(err) {
			w.suspect[i] = time.Now().Add(suspectFor) // no answer at all: try the others first
		}
		if kind == opPGet || kind == opReadGone {
			if isMsg(err, msgNoPayload) || isMsg(err, msgNoSession) {
				out = acked // an answer about the data, not an error
			}
		}
		w.ops = append(w.ops, opRecord{inv: inv, done: time.Now(), kind: kind, out: out, avail: avail,
			node: int8(i), part: int16(part), msg: w.errs.intern(err, out)})
		rec = &w.ops[len(w.ops)-1]
		if s != nil {
			rec.sess = idOf(s.token)
		}
		switch tok, _ := res.(string); {
		case kind == opPSet && len(args) >= 5:
			rec.detail = fmt.Sprintf("%v=%v", args[3], args[4])
		case kind == opRotate && tok != "":
			rec.detail = idOf(tok)
		}
		if !(out == failed && avail) {
			break
		}
	}
	switch {
	case rec.avail && rec.out != acked && s != nil:
		w.focus, w.avoid = s, int(rec.node)
		if w.probe != nil {
			w.probe.open(int16(s.part), s.token)
		}
	case s == w.focus:
		w.focus, w.avoid = nil, -1
	}
	return res, err, rec
}

// suspectFor is how long a retry prefers other nodes after one did not answer at all, as a
// client with fail-over does; without it, retries would keep landing on a frozen node.
// First attempts go anywhere: traffic must reach nodes the moment they come back.
const suspectFor = 10 * time.Second

// order lists the nodes to try: those that answered lately first, each group shuffled.
func (w *worker) order() []int {
	now := time.Now()
	var good, bad []int
	for _, i := range w.rng.Perm(len(w.nodes)) {
		if now.Before(w.suspect[i]) {
			bad = append(bad, i)
		} else {
			good = append(good, i)
		}
	}
	return append(good, bad...)
}

func (w *worker) partOf(token string) int {
	id, _, err := sessions.ParseToken([]byte(token))
	if err != nil {
		return -1
	}
	return id.Slot() % w.parts
}

// step runs one operation of the mix.
func (w *worker) step() {
	if w.focus != nil && w.focus.frozen {
		w.focus = nil
	}
	if w.focus != nil {
		w.pget(w.focus)
		return
	}
	if len(w.live) < 2 || w.rng.Float64() < 0.06 && len(w.live) < maxLive {
		w.create()
		return
	}
	s := w.live[w.rng.IntN(len(w.live))]
	if s.frozen {
		w.retire(s)
		return
	}
	if s.short {
		// A short session gets a write or two, then is left alone until it expires.
		if len(s.regs) > 0 && w.rng.Float64() < 0.5 || time.Until(s.dlMin) < 3*time.Second {
			w.retire(s)
		} else {
			w.pset(s)
		}
		return
	}
	if time.Until(s.dlMin) < 20*time.Second {
		w.retire(s) // too close to its deadline to tell "expired" from "lost"
		return
	}
	switch r := w.rng.Float64(); {
	case r < 0.34:
		w.pset(s)
	case r < 0.40:
		w.psetPipeline(s)
	case r < 0.75:
		w.pget(s)
	case r < 0.83:
		w.expire(s, time.Duration(300+w.rng.IntN(600))*time.Second)
	case r < 0.87:
		w.rotate(s)
	case r < 0.91:
		if w.rng.Float64() < 0.3 {
			w.expire(s, 0)
		} else {
			w.end(s)
		}
	case r < 0.92 && s.owner != "":
		w.endOwner(s.owner)
	default:
		w.readGone()
	}
}

func (w *worker) create() {
	short := w.rng.Float64() < 0.15
	ttl := time.Duration(600+w.rng.IntN(600)) * time.Second
	if short {
		ttl = time.Duration(8+w.rng.IntN(22)) * time.Second
	}
	secs := int(ttl / time.Second)
	kind, args := opStart, []any{"SESSIONGATE.START", w.key, secs}
	owner := ""
	if w.rng.Float64() < 0.5 {
		kind = opCreate
		owner = fmt.Sprintf("user-%d-%d", w.id, w.rng.IntN(20))
		args = []any{"SESSIONGATE.CREATE", w.key, secs, "OWNER", owner, "IP", fmt.Sprintf("10.0.%d.%d", w.id, w.rng.IntN(250)),
			"UA", "chaos/1.0"}
		if w.rng.Float64() < 0.5 {
			args = append(args, "IDLE", 7200)
		}
	}
	res, err, rec := w.call(kind, nil, args...)
	if err != nil {
		return // unacknowledged: without a token nothing can be checked
	}
	tok, _ := res.(string)
	rec.sess, rec.detail = idOf(tok), owner // the trail of a session found wrong starts here
	s := &session{token: tok, owner: owner, part: w.partOf(tok), created: rec.done, short: short,
		regs: map[string]*register{}, maybeEnded: w.tainted[owner]}
	s.setDeadline(ttl, rec.inv, rec.done, acked)
	rec.part = int16(s.part)
	w.all = append(w.all, s)
	w.live = append(w.live, s)
}

func (w *worker) retire(s *session) {
	for i, x := range w.live {
		if x == s {
			w.live = append(w.live[:i], w.live[i+1:]...)
			return
		}
	}
}

// gone handles "session does not exist" for a session in use: stale if it had to exist.
func (w *worker) gone(s *session, rec *opRecord, what string) {
	if s.expect(rec.inv) == expectPresent {
		rec.stale = true
		w.anom.add(rec.inv, "%s %s through %s: session does not exist, but it was acknowledged and not ended (%s)",
			what, s.token, w.names[rec.node], s.describe(rec.inv))
	}
	w.retire(s)
}

func isMsg(err error, msg string) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && rerr.Error() == msg
}

// loop runs operations at about one per interval until ctx is done. Each operation holds
// gate for reading, so a check can stop the workload by locking it.
func (w *worker) loop(ctx context.Context, interval time.Duration, gate *sync.RWMutex) {
	next := time.Now()
	for {
		next = next.Add(interval/2 + time.Duration(w.rng.Int64N(int64(interval))))
		if d := time.Until(next); d > 0 {
			sleep(ctx, d)
		} else if d < -10*interval {
			next = time.Now() // after a long stall, do not burst to catch up
		}
		if ctx.Err() != nil {
			return
		}
		gate.RLock()
		w.step()
		gate.RUnlock()
	}
}
