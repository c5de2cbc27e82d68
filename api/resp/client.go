package resp

import (
	"bufio"
	"errors"
	"net"
	"runtime"
	"slices"
	"strings"
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
	rnd     *bufio.Reader // only the connection's goroutine draws ids
	signer  *sessions.Signer
	name    string
	lib     string
	proto   int // 2 or 3
	authed  bool
	quit    bool
	closing atomic.Bool
	// The deadlines last set on nc. Setting one costs a timer update; they are moved only
	// when they drift by more than deadlineSlack, not on every command.
	readDL, writeDL time.Time
	// pipe holds the pipeline's buffers from one pipeline to the next (pipeline.go).
	pipe pipeBufs
}

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
