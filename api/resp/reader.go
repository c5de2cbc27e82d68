package resp

import (
	"bytes"
	"errors"
	"io"
	"strconv"
)

// Protocol errors, worded as Redis words them. The connection is closed after each.
var (
	errMultibulkLen = errors.New("ERR Protocol error: invalid multibulk length")
	errBulkLen      = errors.New("ERR Protocol error: invalid bulk length")
	errExpectedBulk = errors.New("ERR Protocol error: expected '$'")
	errInlineTooBig = errors.New("ERR Protocol error: too big inline request")
	errCommandSize  = errors.New("ERR Protocol error: command too large")
	// errCrossProtocol ends a connection that sent an HTTP request line or header.
	errCrossProtocol = errors.New("ERR Protocol error: HTTP request sent to a RESP port")
)

const maxInline = 64 << 10

// limits bound what one request may make the reader buffer.
type limits struct {
	maxArgs, maxBulk, maxCommand int
}

// reader frames RESP requests incrementally. Unlike redcon's reader it keeps its parse
// position across partial reads (no rescans, no recursion: a request sent one byte at a time
// costs O(n)), and it checks array and bulk lengths against its limits before buffering.
type reader struct {
	r   io.Reader
	buf []byte
	beg int // start of the request being parsed
	end int // end of valid data

	// parse state of the current request, relative to beg
	pos    int
	nargs  int   // -1: header not read yet
	bulk   int   // length of the bulk being read, -1: its header not read yet
	offs   []int // start,end pairs of parsed args
	inline bool
	// arena holds the arg slices of the requests next returns, reused from call to call.
	arena [][]byte

	lim limits
	// crossed is set once a request looked like HTTP (see crossProtocol): that request is the
	// last one framed, so that nothing an HTTP body carries after it ever runs.
	crossed bool
}

func newReader(r io.Reader, lim limits) *reader {
	return &reader{r: r, buf: make([]byte, 16<<10), nargs: -1, bulk: -1, lim: lim}
}

// next returns the complete requests now buffered, reading at least once if there are none.
// Args alias the reader's buffer and stay valid until the following call to next.
func (rd *reader) next(out [][][]byte) ([][][]byte, error) {
	out = out[:0]
	if rd.crossed {
		return out, errCrossProtocol
	}
	if cap(rd.arena) > maxArena {
		rd.arena = nil // one huge request does not pin its arg slices for the connection's life
	}
	rd.arena = rd.arena[:0]
	for {
		for {
			args, ok, err := rd.parse()
			if err != nil {
				return out, err
			}
			if !ok {
				break
			}
			if len(args) > 0 {
				out = append(out, args)
				if crossProtocol(args[0]) {
					rd.crossed = true
					return out, nil
				}
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		if err := rd.fill(); err != nil {
			return out, err
		}
	}
}

// drained reports whether every byte read so far has been parsed: the next call to next
// will read from the connection.
func (rd *reader) drained() bool { return rd.beg == rd.end }

// fill makes room and reads more bytes.
func (rd *reader) fill() error {
	if rd.end == len(rd.buf) {
		need := rd.end - rd.beg
		// A bulk of known size gets its whole room at once: growth is O(n), not O(n^2).
		if rd.bulk >= 0 {
			need = max(need, rd.pos+rd.bulk+2)
		}
		if need < len(rd.buf) && rd.beg > 0 {
			copy(rd.buf, rd.buf[rd.beg:rd.end])
		} else {
			nb := make([]byte, max(2*len(rd.buf), need+4096))
			copy(nb, rd.buf[rd.beg:rd.end])
			rd.buf = nb
		}
		rd.end -= rd.beg
		rd.beg = 0
	}
	// io.Reader allows (0, nil); tolerate a few, as bufio does.
	for i := 0; i < 100; i++ {
		n, err := rd.r.Read(rd.buf[rd.end:])
		rd.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// parse advances over buffered bytes; ok reports a complete request.
func (rd *reader) parse() (args [][]byte, ok bool, err error) {
	data := rd.buf[rd.beg:rd.end]
	if rd.nargs < 0 {
		if len(data) == 0 {
			return nil, false, nil
		}
		if data[0] != '*' {
			return rd.parseInline(data)
		}
		n, used, err := readNumber(data[1:], '*')
		if err != nil || used == 0 {
			if err == nil && len(data) > 24 {
				err = errMultibulkLen
			}
			return nil, false, err
		}
		if n > int64(rd.lim.maxArgs) {
			return nil, false, errMultibulkLen
		}
		rd.pos = 1 + used
		if n <= 0 {
			rd.consume()
			return nil, true, nil // "*0" and "*-1" are ignored, as by Redis
		}
		rd.nargs = int(n)
		rd.offs = rd.offs[:0]
	}
	for len(rd.offs)/2 < rd.nargs {
		if rd.bulk < 0 {
			rest := data[rd.pos:]
			if len(rest) == 0 {
				return nil, false, nil
			}
			if rest[0] != '$' {
				return nil, false, errExpectedBulk
			}
			n, used, err := readNumber(rest[1:], '$')
			if err != nil {
				return nil, false, err
			}
			if used == 0 {
				if len(rest) > 24 {
					return nil, false, errBulkLen
				}
				return nil, false, nil
			}
			if n < 0 || n > int64(rd.lim.maxBulk) {
				return nil, false, errBulkLen
			}
			if rd.pos+1+used+int(n) > rd.lim.maxCommand {
				return nil, false, errCommandSize
			}
			rd.pos += 1 + used
			rd.bulk = int(n)
		}
		if len(data)-rd.pos < rd.bulk+2 {
			return nil, false, nil
		}
		if data[rd.pos+rd.bulk] != '\r' || data[rd.pos+rd.bulk+1] != '\n' {
			return nil, false, errBulkLen
		}
		rd.offs = append(rd.offs, rd.pos, rd.pos+rd.bulk)
		rd.pos += rd.bulk + 2
		rd.bulk = -1
	}
	args = rd.argSlots(rd.nargs)
	for i := range args {
		args[i] = data[rd.offs[2*i]:rd.offs[2*i+1]:rd.offs[2*i+1]]
	}
	rd.consume()
	return args, true, nil
}

// maxArena is the most arg slices a reader keeps between calls to next.
const maxArena = 4096

// argSlots returns room for n args from the arena. When the arena is full a new one takes its
// place; requests already returned keep the old one.
func (rd *reader) argSlots(n int) [][]byte {
	if cap(rd.arena)-len(rd.arena) < n {
		rd.arena = make([][]byte, 0, max(2*cap(rd.arena), n, 64))
	}
	start := len(rd.arena)
	rd.arena = rd.arena[:start+n]
	return rd.arena[start : start+n : start+n]
}

func (rd *reader) consume() {
	rd.beg += rd.pos
	rd.pos = 0
	rd.nargs = -1
	rd.bulk = -1
	if rd.beg == rd.end {
		rd.beg, rd.end = 0, 0
	}
}

// parseInline handles telnet-style requests: one line of space-separated words.
func (rd *reader) parseInline(data []byte) ([][]byte, bool, error) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if len(data) > maxInline {
			return nil, false, errInlineTooBig
		}
		return nil, false, nil
	}
	line := bytes.TrimRight(data[:i], "\r")
	args := bytes.Fields(line)
	if len(args) > rd.lim.maxArgs {
		return nil, false, errMultibulkLen
	}
	rd.pos = i + 1
	rd.consume()
	return args, true, nil
}

// crossProtocol reports whether a request's name is what an HTTP request begins with: a
// POST request line or a Host: header (Redis's guard against cross-protocol scripting,
// where a browser is made to POST a body of commands to a local Redis port).
func crossProtocol(name []byte) bool {
	return len(name) == 4 && bytes.EqualFold(name, []byte("post")) ||
		len(name) == 5 && bytes.EqualFold(name, []byte("host:"))
}

// readNumber reads "<digits>\r\n" at the start of b; used is 0 when the line is incomplete.
func readNumber(b []byte, kind byte) (n int64, used int, err error) {
	// What clients send, up to 18 plain digits, is read in one pass; anything else (a sign,
	// more digits, a line still arriving, an error) takes the general path below.
	for i, ch := range b {
		if ch >= '0' && ch <= '9' && i < 18 {
			n = n*10 + int64(ch-'0')
			continue
		}
		if ch == '\r' && i > 0 && i+1 < len(b) && b[i+1] == '\n' {
			return n, i + 2, nil
		}
		break
	}
	return readNumberSlow(b, kind)
}

// readNumberSlow is readNumber's general path: strconv's syntax, Redis's errors.
func readNumberSlow(b []byte, kind byte) (n int64, used int, err error) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return 0, 0, nil
	}
	bad := errMultibulkLen
	if kind == '$' {
		bad = errBulkLen
	}
	if i == 0 || b[i-1] != '\r' {
		return 0, 0, bad
	}
	n, perr := strconv.ParseInt(string(b[:i-1]), 10, 64)
	if perr != nil {
		return 0, 0, bad
	}
	return n, i + 1, nil
}
