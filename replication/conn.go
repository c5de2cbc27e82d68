package replication

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/sessiongate/sessiongate/internal/rawtcp"
)

// ErrUnavailable means the peer could not be reached or the connection broke during the
// call: the request may or may not have been served. Callers may retry elsewhere.
var ErrUnavailable = errors.New("replication: peer unavailable")

// ErrConnLost comes with ErrUnavailable when the connection broke after the request was
// sent: the peer may have served it, so a caller that retries a write elsewhere must not
// take the retry's "nothing there" for the first attempt's outcome.
var ErrConnLost = errors.New("connection lost")

// RemoteError is an error the remote handler returned.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return "remote: " + e.Msg }

// writeTimeout bounds one flush, so a stalled peer cannot hold a writer forever.
const writeTimeout = 5 * time.Second

// maxBacklog bounds the bytes queued for one connection while its writer is busy; a send
// beyond it fails as unavailable rather than buffering without limit for a stalled peer.
const maxBacklog = 96 << 20

// conn is one multiplexed connection, used by both ends. Senders append finished frames to a
// shared backlog; whichever sender finds no write in progress writes the backlog itself, and
// keeps writing until it is empty. A burst of frames from many goroutines still goes out in
// few syscalls, and no frame waits for a writer goroutine to be scheduled.
//
// A sender writes only what the socket takes at once (over TCP on Linux; elsewhere it
// waits as net.Conn does). When the socket is full, a goroutine takes over the rest and
// waits for room, and the sender goes on: a node that sends a copy to a stalled peer from a
// connection's reader (a node's ServeInline) must not stall that connection too.
type conn struct {
	c          net.Conn
	rd         io.Reader // c's socket read and written without the scheduler's syscall hooks
	wr         io.Writer
	try        rawtcp.TryWriter // wr, when it can write without waiting
	done       chan struct{}
	once       sync.Once
	err        error
	maxFrame   int
	maxBacklog int
	peer       string  // the peer's name, from the handshake
	seal       *sealer // seals frames on a keyed link without TLS

	wmu     sync.Mutex
	backlog []byte // frames waiting for the active writer
	spare   []byte // the buffer last written, reused for the next backlog
	writing bool
	writes  int // writes made, for tests of coalescing
	drains  int // times a full socket left the rest to drain, for tests
}

func newConn(l link, maxFrame int) *conn {
	k := &conn{c: l.c, rd: rawtcp.Reader(l.c), wr: rawtcp.Writer(l.c), done: make(chan struct{}),
		maxFrame: maxFrame, maxBacklog: maxBacklog, peer: l.peer, seal: l.seal}
	if l.recv != nil {
		k.rd = newOpener(k.rd, l.recv)
	}
	if len(l.early) > 0 {
		k.rd = io.MultiReader(bytes.NewReader(l.early), k.rd)
	}
	k.try, _ = k.wr.(rawtcp.TryWriter)
	return k
}

func (k *conn) close(err error) {
	k.once.Do(func() {
		k.err = err
		close(k.done)
		k.c.Close()
	})
}

// send writes a finished frame, or leaves it to the sender writing already. It fails once
// the connection is closed. The frame buffer is recycled either way.
func (k *conn) send(ctx context.Context, b *[]byte) error {
	if err := k.queue(ctx, b); err != nil {
		return err
	}
	return k.flush()
}

// queue appends a finished frame to the backlog without writing it: the reader answering
// calls inline queues while more requests are already buffered, so that a burst of answers
// leaves in one write. Someone must flush afterwards.
func (k *conn) queue(ctx context.Context, b *[]byte) error {
	defer putBuf(b)
	select {
	case <-k.done:
		return fmt.Errorf("%w: %v", ErrUnavailable, k.err)
	case <-ctx.Done():
		return ctx.Err()
	default:
	}
	k.wmu.Lock()
	defer k.wmu.Unlock()
	if len(k.backlog)+len(*b) > k.maxBacklog {
		return fmt.Errorf("%w: %d bytes already queued for %s", ErrUnavailable, len(k.backlog), k.c.RemoteAddr())
	}
	if k.seal != nil {
		k.backlog = k.seal.appendSealed(k.backlog, *b)
	} else {
		k.backlog = append(k.backlog, *b...)
	}
	return nil
}

// flush writes the backlog until it is empty, unless another sender is writing it already.
// What the socket has no room for is left to a goroutine that waits for it.
func (k *conn) flush() error {
	k.wmu.Lock()
	if k.writing {
		k.wmu.Unlock()
		return nil
	}
	k.writing = true
	return k.writeBacklog(k.try != nil)
}

// writeBacklog writes the backlog until it is empty; the caller is the writer and holds
// wmu, which it gets back unlocked. With try, a full socket hands the rest to drain.
func (k *conn) writeBacklog(try bool) error {
	for len(k.backlog) > 0 {
		out := k.backlog
		k.backlog = k.spare[:0]
		k.wmu.Unlock()
		var n int
		var err error
		if try {
			n, err = k.try.TryWrite(out)
		} else {
			k.c.SetWriteDeadline(time.Now().Add(writeTimeout))
			n, err = k.wr.Write(out)
		}
		k.wmu.Lock()
		k.writes++
		if err == nil && n < len(out) {
			// The unwritten rest goes ahead of what was queued meanwhile. out's array is
			// nobody else's: the rest and the newcomers are moved to its front.
			rest := append(out[:0], out[n:]...)
			rest = append(rest, k.backlog...)
			k.spare, k.backlog = k.backlog[:0], rest
			k.drains++
			go k.drain()
			k.wmu.Unlock()
			return nil
		}
		if cap(out) <= 1<<20 {
			k.spare = out[:0]
		} else {
			k.spare = nil // a burst's big buffer is not kept for the connection's life
		}
		if err != nil {
			k.writing = false
			k.backlog = nil
			k.wmu.Unlock()
			k.close(err)
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	if !try && k.try != nil {
		// The next writer tries without a deadline, and a try fails at once on one that
		// has passed.
		k.c.SetWriteDeadline(time.Time{})
	}
	k.writing = false
	k.wmu.Unlock()
	return nil
}

// drain is the writer while the socket is full: it waits for room, up to writeTimeout.
func (k *conn) drain() {
	k.wmu.Lock()
	k.writeBacklog(false)
}

// readLoop hands each frame to onFrame, telling it whether another whole frame is buffered
// already (so reading it will not wait). When none is, it calls idle, if set, before it
// reads on.
func (k *conn) readLoop(onFrame func(f frame, more bool), idle func()) {
	r := bufio.NewReaderSize(k.rd, 64<<10)
	for {
		if idle != nil && !wholeFrame(r) {
			idle()
		}
		f, err := readFrame(r, k.maxFrame)
		if err != nil {
			k.close(err)
			return
		}
		onFrame(f, wholeFrame(r))
	}
}

// wholeFrame reports whether r's buffer holds a complete frame. A frame larger than the
// buffer never does, and part of a frame does not count: its rest may be slow to come.
func wholeFrame(r *bufio.Reader) bool {
	if r.Buffered() < 4 {
		return false
	}
	h, _ := r.Peek(4) // buffered already: does not read
	return r.Buffered()-4 >= int(binary.BigEndian.Uint32(h))
}
