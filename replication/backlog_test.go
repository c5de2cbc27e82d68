package replication

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func frameOf(n int) *[]byte {
	b := getBuf()
	*b = append(*b, make([]byte, n)...)
	finishFrame(*b, 1, kindRequest, 1)
	return b
}

// A peer that stops reading holds one sender in its write; the others queue behind it up
// to the backlog bound and then fail as unavailable instead of buffering without limit.
func TestSendBacklogIsBounded(t *testing.T) {
	a, b := net.Pipe() // writes block until the other end reads: b never does
	defer a.Close()
	defer b.Close()
	k := newConn(link{c: a}, DefaultMaxFrame)
	k.maxBacklog = 10 << 10
	ctx := context.Background()
	blocked := make(chan error, 1)
	go func() { blocked <- k.send(ctx, frameOf(100)) }()
	for { // wait until the first sender is the writer, stuck in Write
		k.wmu.Lock()
		w := k.writing
		k.wmu.Unlock()
		if w {
			break
		}
		time.Sleep(time.Millisecond)
	}
	queued := 0
	var err error
	for i := 0; i < 100; i++ {
		if err = k.send(ctx, frameOf(1000)); err != nil {
			break
		}
		queued++
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("after %d queued frames: %v, want ErrUnavailable", queued, err)
	}
	if queued < 5 || queued > 10 {
		t.Fatalf("%d frames of 1 KB queued under a 10 KB backlog", queued)
	}
	b.Close() // the stuck write fails; the connection closes and later sends fail fast
	if err := <-blocked; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("stuck writer: %v", err)
	}
	if err := k.send(ctx, frameOf(10)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("send on a closed connection: %v", err)
	}
}

// Frames sent from many goroutines at once all arrive whole.
func TestConcurrentSendsArriveWhole(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	k := newConn(link{c: a}, DefaultMaxFrame)
	const senders, each = 8, 50
	got := make(chan frame, senders*each)
	r := newConn(link{c: b}, DefaultMaxFrame)
	go r.readLoop(func(f frame, _ bool) { got <- f }, nil)
	for i := 0; i < senders; i++ {
		go func() {
			for j := 0; j < each; j++ {
				if err := k.send(context.Background(), frameOf(100+j)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := 0; i < senders*each; i++ {
		select {
		case f := <-got:
			if f.kind != kindRequest || len(f.payload) < 100 {
				t.Fatalf("frame %d: kind %d, %d bytes", i, f.kind, len(f.payload))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d frames arrived", i, senders*each)
		}
	}
}

// Over TCP a sender writes only what the socket takes: with a peer that reads nothing, many
// megabytes of frames are queued without any sender waiting (one that waited would fail
// after writeTimeout, the peer still not reading), and once the peer reads, every frame
// arrives whole and in order.
func TestSendToAFullSocketDoesNotWait(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	defer b.Close()
	k := newConn(link{c: a}, DefaultMaxFrame)
	if k.try == nil {
		t.Skip("no raw writes on this OS")
	}
	const frames, size = 64, 256 << 10 // 16 MiB: far more than the socket buffers
	for i := 1; i <= frames; i++ {
		f := getBuf()
		*f = append(*f, make([]byte, size)...)
		finishFrame(*f, uint64(i), kindRequest, 1)
		if err := k.send(context.Background(), f); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	k.wmu.Lock()
	drains := k.drains
	k.wmu.Unlock()
	if drains == 0 {
		t.Fatal("the socket never filled; the test proves nothing")
	}
	got := make(chan frame, frames)
	r := newConn(link{c: b}, DefaultMaxFrame)
	go r.readLoop(func(f frame, _ bool) { got <- f }, nil)
	for i := 1; i <= frames; i++ {
		select {
		case f := <-got:
			if f.id != uint64(i) || len(f.payload) != size {
				t.Fatalf("frame %d: id %d, %d bytes", i, f.id, len(f.payload))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d frames arrived", i-1, frames)
		}
	}
	// The drain is over: later sends write at once again, with no stale deadline.
	time.Sleep(writeTimeout + 100*time.Millisecond)
	f := getBuf()
	finishFrame(*f, frames+1, kindRequest, 1)
	if err := k.send(context.Background(), f); err != nil {
		t.Fatalf("send after the drain: %v", err)
	}
	select {
	case f := <-got:
		if f.id != frames+1 {
			t.Fatalf("frame %d after the drain", f.id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the frame after the drain never arrived")
	}
}
