package rawtcp

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Reader returns an io.Reader over nc's socket. One Reader must not be used by two
// goroutines at once (as with a bufio.Reader); it keeps its call's state in itself so that
// a read allocates nothing.
func Reader(nc net.Conn) io.Reader {
	rc, ok := rawConn(nc)
	if !ok {
		return nc
	}
	r := &reader{nc: nc, rc: rc}
	r.fn = r.read
	return r
}

// Writer returns an io.Writer over nc's socket; it writes all of p or fails, as net.Conn's
// Write does. One Writer must not be used by two goroutines at once.
func Writer(nc net.Conn) io.Writer {
	rc, ok := rawConn(nc)
	if !ok {
		return nc
	}
	w := &writer{nc: nc, rc: rc}
	w.fn = w.write
	return w
}

func rawConn(nc net.Conn) (syscall.RawConn, bool) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil, false
	}
	rc, err := tc.SyscallConn()
	return rc, err == nil
}

type reader struct {
	nc  net.Conn
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // r.read, bound once: a fresh closure per call would escape
	buf []byte
	n   int
	err error
}

func (r *reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.buf, r.n, r.err = p, 0, nil
	err := r.rc.Read(r.fn)
	r.buf = nil
	if err != nil {
		return 0, err
	}
	return r.n, r.err
}

// read is one attempt; false asks the poller to wait until the socket is readable.
func (r *reader) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)))
		switch e {
		case 0:
			if n == 0 {
				r.err = io.EOF
			}
			r.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			r.err = opError("read", r.nc, e)
			return true
		}
	}
}

type writer struct {
	nc   net.Conn
	rc   syscall.RawConn
	fn   func(fd uintptr) bool // w.write, bound once
	buf  []byte
	done int
	err  error
	try  bool // TryWrite's call: no wait for room
}

func (w *writer) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.buf, w.done, w.err = p, 0, nil
	err := w.rc.Write(w.fn)
	n := w.done
	w.buf = nil
	if err != nil {
		return n, err
	}
	return n, w.err
}

// TryWrite writes as much of p as the socket takes now and returns how much that was,
// without waiting for room: a full socket takes nothing (0, nil). It implements TryWriter.
func (w *writer) TryWrite(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.buf, w.done, w.err, w.try = p, 0, nil, true
	err := w.rc.Write(w.fn)
	n := w.done
	w.buf, w.try = nil, false
	if err != nil {
		return n, err
	}
	return n, w.err
}

// write writes what it can; false asks the poller to wait until the socket is writable,
// after which it is called again for the rest.
func (w *writer) write(fd uintptr) bool {
	for w.done < len(w.buf) {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w.buf[w.done])), uintptr(len(w.buf)-w.done))
		switch e {
		case 0:
			if n == 0 { // a socket never does this; looping on it would spin forever
				w.err = io.ErrShortWrite
				return true
			}
			w.done += int(n)
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return w.try // TryWrite stops here; Write waits for room
		default:
			w.err = opError("write", w.nc, e)
			return true
		}
	}
	return true
}

// opError dresses a system call's error as net's own, so callers that test for net.Error
// or a reset connection see what they would with the net.Conn.
func opError(op string, nc net.Conn, e syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: nc.LocalAddr(), Addr: nc.RemoteAddr(), Err: os.NewSyscallError(op, e)}
}
