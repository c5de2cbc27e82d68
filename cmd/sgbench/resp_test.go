package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestWriterEncodesBinarySafeArgs(t *testing.T) {
	var buf bytes.Buffer
	w := newWriter(&buf)
	w.cmd([]byte("SET"), []byte("a\r\nb"), []byte{})
	w.array(2).str("GET").bulk([]byte{0, 255})
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	want := "*3\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n$0\r\n\r\n" + "*2\r\n$3\r\nGET\r\n$2\r\n\x00\xff\r\n"
	if buf.String() != want {
		t.Fatalf("got %q\nwant %q", buf.String(), want)
	}
}

func TestReaderParsesEveryReplyType(t *testing.T) {
	big := strings.Repeat("x", ioBuffer+10) // larger than the buffer: read through scratch
	stream := "+OK\r\n-ERR bad thing\r\n:42\r\n:-7\r\n$5\r\nhe\r\nl\r\n$-1\r\n$0\r\n\r\n" +
		"*3\r\n$1\r\na\r\n*1\r\n:1\r\n+st\r\n*-1\r\n" + bulk(big)
	// One byte per read: every partial read path is taken.
	r := newReader(iotest.OneByteReader(strings.NewReader(stream)))
	check := func(want string) Reply {
		t.Helper()
		rep, err := r.read()
		if err != nil {
			t.Fatalf("want %q: %v", want, err)
		}
		if got := rep.String(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		return rep
	}
	check("+OK")
	if rep := check("-ERR bad thing"); rep.Type != '-' {
		t.Fatalf("type %q", rep.Type)
	}
	if rep := check("42"); rep.Int != 42 {
		t.Fatal(rep.Int)
	}
	check("-7")
	if rep := check("$he\r\nl"); len(rep.Bytes) != 5 {
		t.Fatal(rep.Bytes)
	}
	if rep := check("(nil)"); rep.Type != '$' {
		t.Fatalf("type %q", rep.Type)
	}
	if rep := check("$"); rep.Nil || rep.Bytes == nil {
		t.Fatalf("empty bulk read as %+v", rep)
	}
	arr := check("array of 3")
	if string(arr.Elems[0].Bytes) != "a" || arr.Elems[1].Elems[0].Int != 1 || string(arr.Elems[2].Bytes) != "st" {
		t.Fatalf("array %+v", arr)
	}
	if rep := check("(nil)"); rep.Type != '*' {
		t.Fatalf("type %q", rep.Type)
	}
	if rep := check("$" + big); len(rep.Bytes) != len(big) {
		t.Fatal(len(rep.Bytes))
	}
	if _, err := r.read(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last reply: %v", err)
	}
}

func TestReaderKeepsArrayElementsAcrossReads(t *testing.T) {
	r := newReader(strings.NewReader("*1\r\n$3\r\nabc\r\n$3\r\nxyz\r\n"))
	arr, err := r.read()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.read(); err != nil {
		t.Fatal(err)
	}
	if string(arr.Elems[0].Bytes) != "abc" {
		t.Fatalf("element overwritten by the next read: %q", arr.Elems[0].Bytes)
	}
}

func TestReaderRejectsMalformedReplies(t *testing.T) {
	deep := strings.Repeat("*1\r\n", maxReplyDepth+1) + ":1\r\n"
	for _, in := range []string{
		"?what\r\n",
		"+OK\n",
		":12a\r\n",
		":\r\n",
		"$3\r\nabcd\r\n",
		fmt.Sprintf("$%d\r\n", maxReplyBulk+1),
		fmt.Sprintf("*%d\r\n", maxReplyArray+1),
		":99999999999999999999\r\n",
		"+" + strings.Repeat("x", ioBuffer) + "\r\n",
		deep,
	} {
		_, err := newReader(strings.NewReader(in)).read()
		if !errors.Is(err, errProtocol) {
			t.Errorf("%.40q: got %v, want a protocol error", in, err)
		}
	}
}

func TestConnPipelinesInOneWrite(t *testing.T) {
	addr := startFake(t, func(c *fakeConn, args []string) string {
		if args[0] == "ECHO" {
			return bulk(args[1])
		}
		return "-ERR unknown\r\n"
	})
	c, err := dialConn(context.Background(), addr, 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 500
	for i := range n {
		c.w.cmd([]byte("ECHO"), []byte(fmt.Sprintf("msg-%d\r\n", i)))
	}
	if err := c.flush(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		rep, err := c.read()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("msg-%d\r\n", i); string(rep.Bytes) != want {
			t.Fatalf("reply %d = %q, want %q", i, rep.Bytes, want)
		}
	}
	rep, err := c.do(30*time.Second, []byte("NOPE"))
	if err != nil || rep.Type != '-' || string(rep.Bytes) != "ERR unknown" {
		t.Fatalf("do: %v %v", rep, err)
	}
}

func TestConnReportsServerHangup(t *testing.T) {
	addr := startFake(t, func(*fakeConn, []string) string { return "" })
	c, err := dialConn(context.Background(), addr, 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.do(30*time.Second, []byte("PING"))
	if connErrorKind(err) != "connection closed by the server" {
		t.Fatalf("got %v (%s)", err, connErrorKind(err))
	}
}

func TestConnTimesOut(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	addr := startFake(t, func(*fakeConn, []string) string {
		<-block
		return "+OK\r\n"
	})
	c, err := dialConn(context.Background(), addr, 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.do(50*time.Millisecond, []byte("PING"))
	if connErrorKind(err) != "timeout: no reply within --timeout" {
		t.Fatalf("got %v (%s)", err, connErrorKind(err))
	}
}

func TestErrorKinds(t *testing.T) {
	for in, want := range map[string]string{
		"TRYAGAIN write not acknowledged by 2 replicas": "TRYAGAIN",
		"ERR wrong number of arguments":                 "ERR wrong number of arguments",
		"the signature contained in <token> is invalid": "the signature contained in <token> is invalid",
		"NOAUTH Authentication required.":               "NOAUTH",
	} {
		if got := errorKind([]byte(in)); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// deadlineConn records the deadlines set on it.
type deadlineConn struct {
	net.Conn
	sets []time.Time
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.sets = append(c.sets, t)
	return nil
}
func (c *deadlineConn) Write(b []byte) (int, error) { return len(b), nil }

// flush gives every reply at least its timeout, at most an eighth more, and moves the
// connection's deadline only when it would fall outside that window.
func TestFlushMovesTheDeadlineOnlyWhenItMust(t *testing.T) {
	nc := &deadlineConn{}
	c := &Conn{nc: nc, w: newWriter(nc)}
	const timeout = 10 * time.Second
	for range 1000 {
		c.w.cmd([]byte("PING"))
		before := time.Now()
		if err := c.flush(timeout); err != nil {
			t.Fatal(err)
		}
		dl := nc.sets[len(nc.sets)-1]
		if dl.Before(before.Add(timeout)) || dl.After(time.Now().Add(timeout+timeout/8)) {
			t.Fatalf("deadline %v after a flush at %v, want within [timeout, 9/8 timeout]", dl.Sub(before), before)
		}
	}
	if len(nc.sets) != 1 {
		t.Fatalf("1000 flushes within a second set the deadline %d times, want once", len(nc.sets))
	}
	// A shorter timeout takes effect at once.
	c.w.cmd([]byte("PING"))
	before := time.Now()
	c.flush(50 * time.Millisecond)
	if dl := nc.sets[len(nc.sets)-1]; len(nc.sets) != 2 || dl.After(before.Add(time.Second)) {
		t.Fatalf("a 50ms flush after 10s ones left the deadline %v away (%d sets)", dl.Sub(before), len(nc.sets))
	}
}
