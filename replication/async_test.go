package replication

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// goResult runs one Go call and returns what its callback got.
func goResult(c *Client, addr string, req echoReq, timeout time.Duration) <-chan error {
	ch := make(chan error, 1)
	c.Go(context.Background(), addr, 1, req, timeout, func(err error) { ch <- err })
	return ch
}

func wait(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("callback never ran")
		return nil
	}
}

func TestGoAnswersByCallback(t *testing.T) {
	_, addr := serve(t, "127.0.0.1:0")
	c := NewClient(ClientConfig{})
	defer c.Close()
	if err := wait(t, goResult(c, addr, echoReq{N: 1}, time.Second)); err != nil {
		t.Fatalf("ok call: %v", err)
	}
	err := wait(t, goResult(c, addr, echoReq{Fail: "boom"}, time.Second))
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "boom" {
		t.Fatalf("failing call: %v", err)
	}
}

func TestGoTimesOut(t *testing.T) {
	_, addr := serve(t, "127.0.0.1:0")
	c := NewClient(ClientConfig{})
	defer c.Close()
	start := time.Now()
	err := wait(t, goResult(c, addr, echoReq{Sleep: 5 * time.Second}, 50*time.Millisecond))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want unavailable", err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("timed out after %v", waited)
	}
	// The connection is still good for the next call.
	if err := wait(t, goResult(c, addr, echoReq{N: 2}, time.Second)); err != nil {
		t.Fatal(err)
	}
}

// A call in flight when its connection dies is failed before the client dials the peer
// again: otherwise a later call could reach the peer before the caller learns the earlier
// one was lost.
func TestGoFailsInFlightCallsBeforeRedialing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- nc
		}
	}()
	c := NewClient(ClientConfig{RetryBackoff: time.Millisecond})
	defer c.Close()
	first := goResult(c, ln.Addr().String(), echoReq{N: 1}, time.Minute)
	nc := <-accepted
	nc.Close() // the peer drops the connection without answering
	// Call again at once and until a new connection comes: by the time it exists, the first
	// call must have been told it failed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = goResult(c, ln.Addr().String(), echoReq{N: 2}, time.Minute)
		select {
		case nc := <-accepted:
			nc.Close()
			select {
			case err := <-first:
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("err %v, want unavailable", err)
				}
			default:
				t.Fatal("a new connection was made before the lost call was failed")
			}
			return
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no new connection")
		}
	}
}

func TestGoToADeadPeerFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := NewClient(ClientConfig{})
	defer c.Close()
	if err := wait(t, goResult(c, addr, echoReq{}, time.Minute)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want unavailable", err)
	}
}

// Connected answers at once while a dial to the peer is under way, and true once connected.
func TestConnectedDoesNotWaitForADial(t *testing.T) {
	_, addr := serve(t, "127.0.0.1:0")
	release, entered := make(chan struct{}), make(chan struct{})
	c := NewClient(ClientConfig{Dial: func(ctx context.Context, a string) (net.Conn, error) {
		close(entered)
		<-release
		return (&net.Dialer{}).DialContext(ctx, "tcp", a)
	}, DialTimeout: time.Minute})
	defer c.Close()
	dialled := make(chan error, 1)
	go func() { dialled <- <-goResult(c, addr, echoReq{N: 1}, time.Minute) }() // Go dials first
	<-entered
	answered := make(chan bool, 1)
	go func() { answered <- c.Connected(addr) }()
	select {
	case got := <-answered:
		if got {
			t.Fatal("connected before the dial finished")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Connected waited for the dial")
	}
	close(release)
	if err := wait(t, dialled); err != nil {
		t.Fatal(err)
	}
	if !c.Connected(addr) {
		t.Fatal("not connected after a successful call")
	}
}
