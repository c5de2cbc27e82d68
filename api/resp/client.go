package resp

import (
	"bufio"
	"errors"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"

	"github.com/sessiongate/sessiongate/internal/rawtcp"
	"github.com/sessiongate/sessiongate/sessions"
)

// client is one connection's state.
type client struct {
	s       *Server
	nc      net.Conn
	id      int64
	rd      *reader
	w       *redcon.Writer
	rndMu   sync.Mutex
	rnd     *bufio.Reader
	signer  *sessions.Signer
	cmd     sessions.Command // the command running with signer (see commandFor)
	signers sync.Pool        // extra signers for commands of a pipeline run concurrently
	name    string
	lib     string
	proto   int // 2 or 3
	authed  bool
	quit    bool
	closing atomic.Bool
	// The deadlines last set on nc. Setting one costs a timer update; they are moved only
	// when they drift by more than deadlineSlack, not on every command.
	readDL, writeDL time.Time
	// at is the clock reading the commands now running share (unix ms; 0: none, the store
	// reads its own). Only a Sequential server sets it: there no command waits on the network,
	// so a reading is at most clockEvery commands old.
	at int64
	// together holds runTogether's buffers from one pipeline to the next.
	together togetherBufs
}

// togetherBufs are the slices runTogether needs for a pipeline.
type togetherBufs struct {
	replies []reply
	cmds    []sessions.Command
	ptrs    []*sessions.Command
	at      []int
}

// maxKeptBatch bounds the pipeline whose buffers a connection keeps for the next one.
const maxKeptBatch = 1024

// clockEvery is how many commands of a pipeline share one clock reading on a Sequential
// server: a reading costs about as much as a lookup in the store.
const clockEvery = 32

// deadlineSlack is how far the idle and write deadlines may lag behind "now + timeout": an
// idle connection closes up to this much (or an eighth of IdleTimeout) earlier than
// IdleTimeout says.
const deadlineSlack = time.Second

// writeTimeout bounds how long one flush of replies may take.
const writeTimeout = 30 * time.Second

func newClient(s *Server, nc net.Conn) *client {
	c := &client{
		s: s, nc: nc, id: s.nextID.Add(1), proto: 2,
		w:      redcon.NewWriter(rawtcp.Writer(nc)),
		rnd:    bufio.NewReaderSize(s.cfg.Rand, 4096),
		signer: sessions.NewSigner(nil),
		authed: s.cfg.RequirePass == "",
	}
	lim := limits{maxArgs: s.cfg.MaxArgs, maxBulk: s.cfg.MaxBulk, maxCommand: s.cfg.MaxCommandBytes}
	if !c.authed {
		lim = unauthLimits
	}
	c.rd = newReader(rawtcp.Reader(nc), lim)
	return c
}

func (c *client) serve() {
	defer c.nc.Close()
	var batch [][][]byte
	for !c.quit && !c.closing.Load() {
		if idle := c.s.cfg.IdleTimeout; idle > 0 {
			if want := time.Now().Add(idle); want.Sub(c.readDL) > min(deadlineSlack, idle/8) {
				c.nc.SetReadDeadline(want)
				c.readDL = want
			}
		}
		var err error
		batch, err = c.rd.next(batch)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) && err.Error() != "EOF" {
				// A protocol error: say why, as Redis does, then hang up.
				c.w.WriteError(err.Error())
				c.flush()
			}
			return
		}
		c.s.stats.commands.Add(uint64(len(batch))) // once per pipeline: a shared counter is costly per command
		c.runBatch(batch)
		if err := c.flush(); err != nil {
			return
		}
		if c.rd.drained() {
			// The client is only now reading the replies, so a read at once would most
			// likely find nothing and park this goroutine in the poller (a read that fails,
			// a wake-up, and a read again). Letting the other connections run first gives
			// the next request time to arrive: measured at depth 1, read calls per request
			// fell from 1.97 to 1.45 and throughput rose 8% (BENCHMARKS.md).
			runtime.Gosched()
		}
	}
}

func (c *client) flush() error {
	if want := time.Now().Add(writeTimeout); want.Sub(c.writeDL) > deadlineSlack {
		c.nc.SetWriteDeadline(want)
		c.writeDL = want
	}
	return c.w.Flush()
}

// reply is a command's answer, written by write() in one place.
type reply struct {
	kind   replyKind
	str    string
	bulk   []byte
	n      int64
	err    error
	array  []reply
	isMap  bool // an array of pairs that RESP3 sends as a map
	closed bool
}

type replyKind uint8

const (
	rOK replyKind = iota
	rStatus
	rBulk
	rInt
	rNull
	rArray
	rErr
)

// runBatch executes pipelined requests. Session commands on different slots run concurrently
// (a pipeline through a forwarding node keeps its throughput); commands on the same slot keep
// their order; any other command waits for everything before it, and replies go out in order.
func (c *client) runBatch(batch [][][]byte) {
	if c.s.cfg.Sequential {
		c.runSequential(batch)
		return
	}
	if len(batch) == 1 {
		c.write(c.exec(batch[0], c.signer))
		return
	}
	if b, ok := c.s.backend.(Batcher); ok {
		c.runTogether(b, batch)
		return
	}
	replies := make([]reply, len(batch))
	var wg sync.WaitGroup
	last := map[int]chan struct{}{}
	for i, args := range batch {
		slot, ok := c.routeSlot(args)
		if !ok {
			wg.Wait()
			clear(last)
			replies[i] = c.exec(args, c.signer)
			continue
		}
		prev := last[slot]
		done := make(chan struct{})
		last[slot] = done
		wg.Add(1)
		c.s.pool.Go(func() { // reused goroutines: their stacks are grown already
			defer wg.Done()
			defer close(done)
			if prev != nil {
				<-prev
			}
			replies[i] = c.execConcurrent(args)
		})
	}
	wg.Wait()
	for _, r := range replies {
		c.write(r)
	}
}

// runSequential runs a pipeline in order on the connection's goroutine. Session commands
// share a clock reading, taken again every clockEvery commands and after any other command
// (which reads the store's clock itself, and may be a scan that takes a while).
func (c *client) runSequential(batch [][][]byte) {
	since := 0
	for _, args := range batch {
		h, r, ok := c.resolve(args)
		switch {
		case !ok:
		case h.prep == nil:
			c.at = 0
			r = h.fn(c, c.signer, args)
		default:
			if c.at == 0 || since == clockEvery {
				c.at, since = time.Now().UnixMilli(), 0
			}
			since++
			r = h.fn(c, c.signer, args)
		}
		c.write(r)
	}
	c.at = 0
}

// runTogether hands a pipeline's session commands to the backend in one call (a node sends
// those bound for one primary in one message); any other command waits for everything before
// it and runs alone. Replies go out in order.
func (c *client) runTogether(b Batcher, batch [][][]byte) {
	tg := &c.together
	if cap(tg.replies) < len(batch) {
		tg.replies = make([]reply, len(batch))
		tg.cmds = make([]sessions.Command, 0, len(batch))
	}
	replies, cmds, at := tg.replies[:len(batch)], tg.cmds[:0], tg.at[:0]
	defer func() {
		if cap(replies) > maxKeptBatch {
			*tg = togetherBufs{} // one huge pipeline does not pin its buffers for the connection's life
			return
		}
		clear(replies) // they point into the store's memory
		tg.cmds, tg.at = cmds[:0], at[:0]
	}()
	flush := func() {
		if len(cmds) == 0 {
			return
		}
		ptrs := tg.ptrs[:0]
		for j := range cmds {
			ptrs = append(ptrs, &cmds[j])
		}
		tg.ptrs = ptrs
		outs := b.DoBatch(c.s.ctx, ptrs)
		for j, i := range at {
			replies[i] = render(cmds[j].Kind, outs[j].Result, outs[j].Err)
		}
		cmds, at = cmds[:0], at[:0]
	}
	for i, args := range batch {
		h, r, ok := c.resolve(args)
		switch {
		case !ok:
			replies[i] = r
		case h.prep == nil:
			flush()
			replies[i] = h.fn(c, c.signer, args)
		default:
			cmd, e := h.prep(c.signer, args)
			if e != "" {
				replies[i] = errReply(e)
				continue
			}
			cmds = append(cmds, cmd)
			at = append(at, i)
		}
	}
	flush()
	for _, r := range replies {
		c.write(r)
	}
}

// routeSlot says which slot a request touches, when it is a session command that may run
// beside others.
func (c *client) routeSlot(args [][]byte) (int, bool) {
	if !c.authed || len(args) < 3 || len(args[0]) < 12 || !strings.EqualFold(string(args[0][:12]), "sessiongate.") {
		return 0, false
	}
	switch strings.ToLower(string(args[0][12:])) {
	case "expire", "pset", "pget", "pdel", "end", "info", "pgetall", "pupdate", "ttl", "idle", "rotate":
		if id, _, err := sessions.ParseToken(args[2]); err == nil {
			return id.Slot(), true
		}
	}
	return 0, false
}

// execConcurrent runs a session command with a signer of its own (a Signer keeps HMAC state).
func (c *client) execConcurrent(args [][]byte) reply {
	sg, _ := c.signers.Get().(*sessions.Signer)
	if sg == nil {
		sg = sessions.NewSigner(nil)
	}
	defer c.signers.Put(sg)
	return c.exec(args, sg)
}

// exec runs one request.
func (c *client) exec(args [][]byte, sg *sessions.Signer) reply {
	h, r, ok := c.resolve(args)
	if !ok {
		return r
	}
	return h.fn(c, sg, args)
}

// resolve counts a request and finds its handler, or the error reply that refuses it
// (authentication, unknown command, arity).
func (c *client) resolve(args [][]byte) (handler, reply, bool) {
	var buf [32]byte
	lname := lower(buf[:0], args[0])
	h, ok := c.s.table[string(lname)] // no allocation: the conversion is only a map key
	name := h.name
	if !c.authed && !(ok && slices.Contains(h.flags, "no-auth")) {
		return h, errReply("NOAUTH Authentication required."), false
	}
	if !ok {
		return h, errReply(unknownCommand(args)), false
	}
	if h.arity > 0 && len(args) != h.arity || h.arity < 0 && len(args) < -h.arity {
		return h, errReply("ERR wrong number of arguments for '" + name + "' command"), false
	}
	return h, reply{}, true
}

// lower appends b in ASCII lower case to dst.
func lower(dst, b []byte) []byte {
	for _, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		dst = append(dst, ch)
	}
	return dst
}

func unknownCommand(args [][]byte) string {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	b.WriteString(trunc(args[0]))
	b.WriteString("', with args beginning with: ")
	for _, a := range args[1:] {
		b.WriteString("'")
		b.WriteString(trunc(a))
		b.WriteString("' ")
	}
	return b.String()
}

func trunc(b []byte) string {
	if len(b) > 128 {
		b = b[:128]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' {
			return ' '
		}
		return r
	}, string(b))
}
