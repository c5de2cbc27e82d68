package main

import (
	"math/rand/v2"
	"strconv"
)

// cmdKind is one logical operation of a workload. Against Redis it may take several native
// commands; it is still counted, timed and reported as one operation.
type cmdKind uint8

const (
	cmdStart cmdKind = iota
	cmdPSet
	cmdPGet
	cmdExpire
	cmdEnd
	cmdCreate
	cmdInfo
	cmdPUpdate
	cmdPGetAll
	cmdRotate
	cmdList
	cmdEndOwner
	numCmds
)

func (c cmdKind) String() string {
	switch c {
	case cmdStart:
		return "START"
	case cmdPSet:
		return "PSET"
	case cmdPGet:
		return "PGET"
	case cmdExpire:
		return "EXPIRE"
	case cmdEnd:
		return "END"
	case cmdCreate:
		return "CREATE"
	case cmdInfo:
		return "INFO"
	case cmdPUpdate:
		return "PUPDATE"
	case cmdPGetAll:
		return "PGETALL"
	case cmdRotate:
		return "ROTATE"
	case cmdList:
		return "LIST"
	case cmdEndOwner:
		return "ENDOWNER"
	}
	return "cmd" + strconv.Itoa(int(c))
}

// session is one session as a client sees it: a token (sessiongate) or a hash key (Redis).
type session struct {
	ref   []byte
	owner []byte
}

// op is one request in flight: its kind and how many replies it waits for.
type op struct {
	cmd cmdKind
	n   int
}

// dialect turns the logical operations into wire commands. Every method appends to w and
// returns the op it wrote. A dialect belongs to one worker.
type dialect interface {
	start(w *writer, s *session) op
	create(w *writer, s *session) op // s.owner is set by the caller
	pset(w *writer, s *session, name string) op
	pget(w *writer, s *session, name string) op
	expire(w *writer, s *session) op
	end(w *writer, s *session) op
	info(w *writer, s *session) op
	pupdate(w *writer, s *session) op
	pgetall(w *writer, s *session) op
	rotate(w *writer, s *session) op
	list(w *writer, s *session) op
	endOwner(w *writer, s *session) op
	// started takes the first reply to a successful start, create or rotate.
	started(s *session, first Reply)
	// check says why a first reply is wrong for cmd ("" when it is right).
	check(cmd cmdKind, first Reply) string
}

// The payload names the workloads use.
const (
	nameA = "a"
	nameB = "b"
	nameC = "c"
)

// sessiongateDialect speaks SESSIONGATE.* commands.
type sessiongateDialect struct {
	key, ttl, data []byte
}

func newSessiongateDialect(cfg *Config, data []byte) *sessiongateDialect {
	return &sessiongateDialect{key: []byte(cfg.SignKey), ttl: strconv.AppendInt(nil, cfg.TTL, 10), data: data}
}

// idleSeconds is the idle timeout the extended workload gives its sessions.
const idleSeconds = "1800"

func (d *sessiongateDialect) start(w *writer, s *session) op {
	w.array(3).str("SESSIONGATE.START").bulk(d.key).bulk(d.ttl)
	return op{cmdStart, 1}
}

func (d *sessiongateDialect) create(w *writer, s *session) op {
	w.array(7).str("SESSIONGATE.CREATE").bulk(d.key).bulk(d.ttl).str("OWNER").bulk(s.owner).str("IDLE").str(idleSeconds)
	return op{cmdCreate, 1}
}

func (d *sessiongateDialect) pset(w *writer, s *session, name string) op {
	w.array(5).str("SESSIONGATE.PSET").bulk(d.key).bulk(s.ref).str(name).bulk(d.data)
	return op{cmdPSet, 1}
}

func (d *sessiongateDialect) pget(w *writer, s *session, name string) op {
	w.array(4).str("SESSIONGATE.PGET").bulk(d.key).bulk(s.ref).str(name)
	return op{cmdPGet, 1}
}

func (d *sessiongateDialect) expire(w *writer, s *session) op {
	w.array(4).str("SESSIONGATE.EXPIRE").bulk(d.key).bulk(s.ref).bulk(d.ttl)
	return op{cmdExpire, 1}
}

func (d *sessiongateDialect) end(w *writer, s *session) op {
	w.array(3).str("SESSIONGATE.END").bulk(d.key).bulk(s.ref)
	return op{cmdEnd, 1}
}

func (d *sessiongateDialect) info(w *writer, s *session) op {
	w.array(3).str("SESSIONGATE.INFO").bulk(d.key).bulk(s.ref)
	return op{cmdInfo, 1}
}

func (d *sessiongateDialect) pupdate(w *writer, s *session) op {
	w.array(11).str("SESSIONGATE.PUPDATE").bulk(d.key).bulk(s.ref).
		str("SET").str(nameA).bulk(d.data).str("SET").str(nameB).bulk(d.data).str("DEL").str(nameC)
	return op{cmdPUpdate, 1}
}

func (d *sessiongateDialect) pgetall(w *writer, s *session) op {
	w.array(3).str("SESSIONGATE.PGETALL").bulk(d.key).bulk(s.ref)
	return op{cmdPGetAll, 1}
}

func (d *sessiongateDialect) rotate(w *writer, s *session) op {
	w.array(3).str("SESSIONGATE.ROTATE").bulk(d.key).bulk(s.ref)
	return op{cmdRotate, 1}
}

func (d *sessiongateDialect) list(w *writer, s *session) op {
	w.array(3).str("SESSIONGATE.LIST").bulk(d.key).bulk(s.owner)
	return op{cmdList, 1}
}

func (d *sessiongateDialect) endOwner(w *writer, s *session) op {
	w.array(3).str("SESSIONGATE.ENDOWNER").bulk(d.key).bulk(s.owner)
	return op{cmdEndOwner, 1}
}

func (d *sessiongateDialect) started(s *session, first Reply) {
	s.ref = append(s.ref[:0], first.Bytes...)
}

func (d *sessiongateDialect) check(cmd cmdKind, first Reply) string {
	var want byte
	switch cmd {
	case cmdStart, cmdCreate, cmdPGet, cmdRotate:
		want = '$'
	case cmdInfo, cmdPGetAll, cmdList:
		want = '*'
	case cmdEndOwner:
		want = ':'
	default:
		want = '+'
	}
	return checkType(cmd, first, want)
}

// checkType names an error reply by its text and anything else unexpected by its shape.
func checkType(cmd cmdKind, first Reply, want byte) string {
	if first.Type == '-' {
		return errorKind(first.Bytes)
	}
	if first.Type != want || first.Nil {
		return "unexpected reply to " + cmd.String() + ": " + truncate(first.String(), 40)
	}
	return ""
}

// errorKind groups error replies: by their first word when it is an upper-case code
// (TRYAGAIN, MOVED ...) whose text varies, else by the whole (fixed) message.
func errorKind(msg []byte) string {
	word := msg
	for i, ch := range msg {
		if ch == ' ' {
			word = msg[:i]
			break
		}
	}
	upper := len(word) > 0
	for _, ch := range word {
		if (ch < 'A' || ch > 'Z') && ch != '_' {
			upper = false
			break
		}
	}
	if upper && string(word) != "ERR" {
		return string(word)
	}
	return truncate(string(msg), 100)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// redisDialect maps the same operations onto native Redis commands: a hash per session
// with EXPIRE on its key, and a set per owner holding the owner's session keys.
type redisDialect struct {
	ttl, data []byte
	rng       *rand.Rand
	old       []byte // the key a rotate renames, kept while the new one is written
	ownerKey  []byte
}

func newRedisDialect(cfg *Config, data []byte, rng *rand.Rand) *redisDialect {
	return &redisDialect{ttl: strconv.AppendInt(nil, cfg.TTL, 10), data: data, rng: rng}
}

const keyAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newKey makes a session key with a 16-character random id, as an application would
// (from crypto/rand there; from the seeded generator here, to keep runs repeatable).
func (d *redisDialect) newKey(dst []byte) []byte {
	dst = append(dst[:0], "sgs:"...)
	for range 16 {
		dst = append(dst, keyAlphabet[d.rng.IntN(len(keyAlphabet))])
	}
	return dst
}

func (d *redisDialect) owner(s *session) []byte {
	d.ownerKey = append(append(d.ownerKey[:0], "sgo:"...), s.owner...)
	return d.ownerKey
}

func (d *redisDialect) start(w *writer, s *session) op {
	s.ref = d.newKey(s.ref)
	w.array(4).str("HSET").bulk(s.ref).str("created").str("1")
	w.array(3).str("EXPIRE").bulk(s.ref).bulk(d.ttl)
	return op{cmdStart, 2}
}

func (d *redisDialect) create(w *writer, s *session) op {
	s.ref = d.newKey(s.ref)
	w.array(8).str("HSET").bulk(s.ref).str("created").str("1").str("owner").bulk(s.owner).str("idle").str(idleSeconds)
	w.array(3).str("EXPIRE").bulk(s.ref).bulk(d.ttl)
	w.array(3).str("SADD").bulk(d.owner(s)).bulk(s.ref)
	return op{cmdCreate, 3}
}

func (d *redisDialect) pset(w *writer, s *session, name string) op {
	w.array(4).str("HSET").bulk(s.ref).str(name).bulk(d.data)
	return op{cmdPSet, 1}
}

func (d *redisDialect) pget(w *writer, s *session, name string) op {
	w.array(3).str("HGET").bulk(s.ref).str(name)
	return op{cmdPGet, 1}
}

func (d *redisDialect) expire(w *writer, s *session) op {
	w.array(3).str("EXPIRE").bulk(s.ref).bulk(d.ttl)
	return op{cmdExpire, 1}
}

func (d *redisDialect) end(w *writer, s *session) op {
	w.array(2).str("DEL").bulk(s.ref)
	return op{cmdEnd, 1}
}

func (d *redisDialect) info(w *writer, s *session) op {
	w.array(5).str("HMGET").bulk(s.ref).str("owner").str("idle").str("created")
	return op{cmdInfo, 1}
}

func (d *redisDialect) pupdate(w *writer, s *session) op {
	w.array(6).str("HSET").bulk(s.ref).str(nameA).bulk(d.data).str(nameB).bulk(d.data)
	w.array(3).str("HDEL").bulk(s.ref).str(nameC)
	return op{cmdPUpdate, 2}
}

func (d *redisDialect) pgetall(w *writer, s *session) op {
	w.array(2).str("HGETALL").bulk(s.ref)
	return op{cmdPGetAll, 1}
}

func (d *redisDialect) rotate(w *writer, s *session) op {
	d.old = append(d.old[:0], s.ref...)
	s.ref = d.newKey(s.ref)
	w.array(3).str("RENAME").bulk(d.old).bulk(s.ref)
	w.array(3).str("SREM").bulk(d.owner(s)).bulk(d.old)
	w.array(3).str("SADD").bulk(d.owner(s)).bulk(s.ref)
	return op{cmdRotate, 3}
}

func (d *redisDialect) list(w *writer, s *session) op {
	w.array(2).str("SMEMBERS").bulk(d.owner(s))
	return op{cmdList, 1}
}

func (d *redisDialect) endOwner(w *writer, s *session) op {
	w.array(3).str("DEL").bulk(s.ref).bulk(d.owner(s))
	return op{cmdEndOwner, 1}
}

func (d *redisDialect) started(*session, Reply) {}

func (d *redisDialect) check(cmd cmdKind, first Reply) string {
	var want byte
	switch cmd {
	case cmdPGet:
		want = '$'
	case cmdInfo, cmdPGetAll, cmdList:
		want = '*'
	case cmdRotate:
		want = '+'
	default:
		want = ':'
	}
	if k := checkType(cmd, first, want); k != "" {
		return k
	}
	// EXPIRE and DEL answer 0 for a missing key, where sessiongate answers an error.
	if (cmd == cmdExpire || cmd == cmdEnd) && first.Int == 0 {
		return cmd.String() + ": no such key"
	}
	return ""
}
