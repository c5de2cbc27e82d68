package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/sessiongate/sessiongate/internal/rawtcp"
)

// ioBuffer is the size of each connection's read and write buffers. Replies that fit are
// parsed in place, without a copy.
const ioBuffer = 64 << 10

// Limits on what a reply may announce, so that a broken or hostile peer cannot make the
// generator allocate without bound.
const (
	maxReplyBulk  = 512 << 20
	maxReplyArray = 1 << 24
	maxReplyDepth = 8
)

// errProtocol is wrapped by every error about a malformed reply.
var errProtocol = errors.New("protocol error")

// Reply is one RESP2 reply.
type Reply struct {
	Type  byte    // '+' status, '-' error, ':' integer, '$' bulk, '*' array
	Nil   bool    // a nil bulk ($-1) or nil array (*-1)
	Bytes []byte  // status, error or bulk text; at top level valid only until the next read
	Int   int64   // the integer, or the array's length
	Elems []Reply // array elements; their Bytes are copies and stay valid
}

// String renders a reply for error messages and tests.
func (r Reply) String() string {
	switch {
	case r.Nil:
		return "(nil)"
	case r.Type == ':':
		return strconv.FormatInt(r.Int, 10)
	case r.Type == '*':
		return fmt.Sprintf("array of %d", len(r.Elems))
	}
	return string(r.Type) + string(r.Bytes)
}

// writer encodes commands as RESP arrays of bulk strings into a buffer; nothing reaches
// the socket until flush. Errors are sticky in the bufio.Writer and surface at flush.
type writer struct {
	bw  *bufio.Writer
	num []byte
}

func newWriter(w io.Writer) *writer {
	return &writer{bw: bufio.NewWriterSize(w, ioBuffer), num: make([]byte, 0, 24)}
}

// cmd appends one command. args is not retained, so callers' variadic slices stay on the
// stack.
func (w *writer) cmd(args ...[]byte) {
	w.array(len(args))
	for _, a := range args {
		w.bulk(a)
	}
}

// array starts a command of n arguments, to be followed by n calls of str or bulk.
func (w *writer) array(n int) *writer {
	w.header('*', n)
	return w
}

// str appends one argument.
func (w *writer) str(s string) *writer {
	w.header('$', len(s))
	w.bw.WriteString(s)
	w.bw.WriteString("\r\n")
	return w
}

// bulk appends one argument.
func (w *writer) bulk(b []byte) *writer {
	w.header('$', len(b))
	w.bw.Write(b)
	w.bw.WriteString("\r\n")
	return w
}

func (w *writer) header(kind byte, n int) {
	w.num = append(w.num[:0], kind)
	w.num = strconv.AppendInt(w.num, int64(n), 10)
	w.num = append(w.num, '\r', '\n')
	w.bw.Write(w.num)
}

func (w *writer) flush() error { return w.bw.Flush() }

// reader parses RESP2 replies from a buffered stream.
type reader struct {
	br      *bufio.Reader
	scratch []byte // bulks too large for br's buffer
}

func newReader(r io.Reader) *reader {
	return &reader{br: bufio.NewReaderSize(r, ioBuffer)}
}

// read returns the next reply. The returned Bytes alias internal buffers until the next
// call; array elements are copied.
func (r *reader) read() (Reply, error) { return r.readDepth(0) }

func (r *reader) readDepth(depth int) (Reply, error) {
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return Reply{}, fmt.Errorf("%w: line longer than %d bytes", errProtocol, ioBuffer)
		}
		return Reply{}, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return Reply{}, fmt.Errorf("%w: line %q does not end in CRLF", errProtocol, line)
	}
	rep := Reply{Type: line[0]}
	body := line[1 : len(line)-2]
	switch rep.Type {
	case '+', '-':
		rep.Bytes = body
		return rep, nil
	case ':':
		rep.Int, err = parseInt(body)
		return rep, err
	case '$':
		n, err := parseInt(body)
		if err != nil {
			return rep, err
		}
		if n < 0 {
			rep.Nil = true
			return rep, nil
		}
		if n > maxReplyBulk {
			return rep, fmt.Errorf("%w: bulk of %d bytes", errProtocol, n)
		}
		rep.Bytes, err = r.bulk(int(n))
		return rep, err
	case '*':
		n, err := parseInt(body)
		if err != nil {
			return rep, err
		}
		if n < 0 {
			rep.Nil = true
			return rep, nil
		}
		if n > maxReplyArray || depth >= maxReplyDepth {
			return rep, fmt.Errorf("%w: array of %d at depth %d", errProtocol, n, depth)
		}
		rep.Int = n
		rep.Elems = make([]Reply, n)
		for i := range rep.Elems {
			e, err := r.readDepth(depth + 1)
			if err != nil {
				return rep, err
			}
			if e.Bytes != nil {
				e.Bytes = append([]byte(nil), e.Bytes...)
			}
			rep.Elems[i] = e
		}
		return rep, nil
	}
	return rep, fmt.Errorf("%w: unknown reply type %q", errProtocol, rep.Type)
}

// bulk reads n bytes and the CRLF after them, in place when they fit in the buffer.
func (r *reader) bulk(n int) ([]byte, error) {
	var b []byte
	if n+2 <= r.br.Size() {
		p, err := r.br.Peek(n + 2)
		if err != nil {
			return nil, err
		}
		b = p
		r.br.Discard(n + 2)
	} else {
		if cap(r.scratch) < n+2 {
			r.scratch = make([]byte, n+2)
		}
		b = r.scratch[:n+2]
		if _, err := io.ReadFull(r.br, b); err != nil {
			return nil, err
		}
	}
	if b[n] != '\r' || b[n+1] != '\n' {
		return nil, fmt.Errorf("%w: bulk not followed by CRLF", errProtocol)
	}
	return b[:n:n], nil
}

// parseInt reads a decimal integer without the allocation strconv would make for its
// error value.
func parseInt(b []byte) (int64, error) {
	neg := len(b) > 0 && b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, fmt.Errorf("%w: bad integer %q", errProtocol, b)
	}
	var n int64
	for _, ch := range digits {
		if ch < '0' || ch > '9' {
			return 0, fmt.Errorf("%w: bad integer %q", errProtocol, b)
		}
		n = n*10 + int64(ch-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

// Conn is one pipelined client connection: commands are appended with w.cmd, sent with
// flush, and their replies read in order with read.
type Conn struct {
	nc   net.Conn
	addr string
	w    *writer
	r    *reader
	// dl is the deadline last set on nc. Moving it costs two timer updates per request, so
	// flush moves it only when it falls outside [timeout, timeout+timeout/8] from now.
	dl time.Time
}

// dialConn connects to addr, giving up after timeout or when ctx ends. A tls:// address is
// dialled over TLS with tlsCfg (its reads and writes then go through crypto/tls, not rawtcp).
func dialConn(ctx context.Context, addr string, timeout time.Duration, tlsCfg *tls.Config) (*Conn, error) {
	var nc net.Conn
	var err error
	if hostport, ok := splitTLS(addr); ok {
		nc, err = dialTLS(ctx, hostport, tlsCfg, timeout)
	} else {
		d := net.Dialer{Timeout: timeout}
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return &Conn{nc: nc, addr: addr, w: newWriter(rawtcp.Writer(nc)), r: newReader(rawtcp.Reader(nc))}, nil
}

// flush sends everything appended, and gives the replies to come until timeout.
// The deadline lies between timeout and timeout+timeout/8 from now: a reply is never cut
// off before timeout, and at most an eighth later than that.
func (c *Conn) flush(timeout time.Duration) error {
	if timeout > 0 {
		if now := time.Now(); c.dl.Sub(now) < timeout || c.dl.Sub(now) > timeout+timeout/8 {
			c.dl = now.Add(timeout + timeout/8)
			c.nc.SetDeadline(c.dl)
		}
	}
	return c.w.flush()
}

func (c *Conn) read() (Reply, error) { return c.r.read() }

// do sends one command and waits for its reply: for setup, not for the measured loop.
func (c *Conn) do(timeout time.Duration, args ...[]byte) (Reply, error) {
	c.w.cmd(args...)
	if err := c.flush(timeout); err != nil {
		return Reply{}, err
	}
	return c.read()
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }
