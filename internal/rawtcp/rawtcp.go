// Package rawtcp reads and writes TCP connections with system calls the Go scheduler is not
// told about.
//
// Go's net package brackets every read and write with the scheduler's "entering a system
// call" hooks, so that a call that blocks does not hold a processor. A socket that net opened
// never blocks (it is non-blocking; EAGAIN makes the runtime's poller wait instead), but the
// kernel's own work in a loopback write can still run for tens of microseconds, and then the
// scheduler's monitor thread takes the processor away, wakes another thread to run it, and
// keeps polling every 20 µs while this goes on. On a busy node that bookkeeping was a quarter
// of the CPU of a request (measured in BENCHMARKS.md). The readers and writers here make the
// same read(2) and write(2) calls without the hooks, and wait in the poller exactly as net does.
//
// Deadlines, Close, and the errors of a closed or timed-out connection behave as with the
// net.Conn itself (deadline errors are net.Errors with Timeout, a closed connection's errors
// match net.ErrClosed). Where raw calls are not available (another OS, a connection that is
// not TCP), Reader and Writer return the connection itself.
package rawtcp

// TryWriter is what a Writer over a TCP socket also is on Linux: it can write without waiting.
type TryWriter interface {
	// TryWrite writes as much of p as the socket takes now, possibly nothing, and returns
	// how much that was. It never waits for room.
	TryWrite(p []byte) (int, error)
}
