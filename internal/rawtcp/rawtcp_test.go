package rawtcp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acc <- nil
			return
		}
		acc <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-acc
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestTCPGetsRawCalls(t *testing.T) {
	a, _ := pair(t)
	if _, ok := Reader(a).(*reader); !ok && runtime.GOOS == "linux" {
		t.Fatalf("Reader(tcp) = %T, want the raw reader", Reader(a))
	}
	if _, ok := Writer(a).(*writer); !ok && runtime.GOOS == "linux" {
		t.Fatalf("Writer(tcp) = %T, want the raw writer", Writer(a))
	}
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if Reader(p) != io.Reader(p) || Writer(p) != io.Writer(p) {
		t.Fatal("a connection that is not TCP must be returned as it is")
	}
}

// A write far larger than the socket buffers must wait for the reader (EAGAIN, then the
// poller) and still deliver every byte, in order.
func TestLargeWriteWaitsForTheReader(t *testing.T) {
	a, b := pair(t)
	want := make([]byte, 8<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	errc := make(chan error, 1)
	go func() {
		n, err := Writer(a).Write(want)
		if err == nil && n != len(want) {
			err = errors.New("short write")
		}
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the writer fill the buffers and park
	got := make([]byte, 0, len(want))
	r := Reader(b)
	buf := make([]byte, 4096)
	for len(got) < len(want) {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes differ")
	}
}

// TryWrite takes what the socket has room for and returns at once when it has none; the
// bytes it took and those written after arrive whole and in order.
func TestTryWriteDoesNotWait(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw calls are Linux only")
	}
	a, b := pair(t)
	want := make([]byte, 32<<20) // far more than loopback socket buffers hold (4 + 6 MiB)
	for i := range want {
		want[i] = byte(i * 13)
	}
	w := Writer(a).(TryWriter)
	took, full := 0, false
	for range 100 { // the peer reads nothing: the socket fills and then takes nothing
		n, err := w.TryWrite(want[took:])
		if err != nil {
			t.Fatal(err)
		}
		took += n
		if n == 0 {
			full = true
			break
		}
	}
	if !full || took == 0 || took >= len(want) {
		t.Fatalf("took %d of %d bytes, full=%v", took, len(want), full)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := Writer(a).Write(want[took:])
		errc <- err
	}()
	got, err := io.ReadAll(io.LimitReader(Reader(b), int64(len(want))))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%d bytes read; they differ from the %d written", len(got), len(want))
	}
}

// A read with nothing to read parks in the poller and wakes when data comes; after the peer
// closes, it reports io.EOF.
func TestReadWaitsThenSeesEOF(t *testing.T) {
	a, b := pair(t)
	go func() {
		time.Sleep(30 * time.Millisecond)
		a.Write([]byte("hello"))
		a.Close()
	}()
	r := Reader(b)
	buf := make([]byte, 16)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after close: %d, %v; want 0, EOF", n, err)
	}
	if n, err := r.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}
}

func TestDeadlinesAndCloseBehaveAsNet(t *testing.T) {
	_, b := pair(t)
	r := Reader(b)
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := r.Read(make([]byte, 8))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v, want a net.Error timeout", err)
	}
	b.SetReadDeadline(time.Time{})
	go func() { time.Sleep(20 * time.Millisecond); b.Close() }()
	if _, err := r.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read of a connection closed under it: %v, want net.ErrClosed", err)
	}
	if _, err := Writer(b).Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write to a closed connection: %v, want net.ErrClosed", err)
	}
}

// A write to a peer that has gone away fails with net's own error type (a reset or a broken
// pipe), not a silent success and not a signal that kills the process.
func TestWriteToAResetPeerFails(t *testing.T) {
	a, b := pair(t)
	b.(*net.TCPConn).SetLinger(0)
	b.Close() // sends RST
	w := Writer(a)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = w.Write(make([]byte, 64<<10))
		time.Sleep(time.Millisecond)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("write to a reset peer: %v, want a *net.OpError from write", err)
	}
}

func TestReadAndWriteAllocateNothing(t *testing.T) {
	a, b := pair(t)
	w, r := Writer(a), Reader(b)
	msg, buf := []byte("ping"), make([]byte, 16)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per write and read, want 0", allocs)
	}
}

func BenchmarkPingPong(b *testing.B) {
	for _, raw := range []bool{false, true} {
		name := "net"
		if raw {
			name = "raw"
		}
		b.Run(name, func(b *testing.B) {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.Copy(c, c)
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var r io.Reader = c
			var w io.Writer = c
			if raw {
				r, w = Reader(c), Writer(c)
			}
			msg, buf := []byte("ping"), make([]byte, 4)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w.Write(msg)
				io.ReadFull(r, buf)
			}
		})
	}
}
