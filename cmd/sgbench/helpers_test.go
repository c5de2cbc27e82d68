package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeConn is one connection to a fake server, as its handler sees it.
type fakeConn struct {
	n int // commands received on this connection so far, this one included
}

// fakeHandler answers one command with raw RESP; "" hangs up instead.
type fakeHandler func(c *fakeConn, args []string) string

// startFake serves handle on a fresh 127.0.0.1 port until the test ends, and returns the
// address. It reads with the generator's own reply parser (a command is an array of bulks).
func startFake(t *testing.T, handle fakeHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var open []net.Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				serveFake(nc, handle)
			}()
		}
	}()
	return ln.Addr().String()
}

func serveFake(nc net.Conn, handle fakeHandler) {
	r := newReader(nc)
	bw := bufio.NewWriter(nc)
	fc := &fakeConn{}
	for {
		req, err := r.read()
		if err != nil || req.Type != '*' {
			return
		}
		args := make([]string, len(req.Elems))
		for i, e := range req.Elems {
			args[i] = string(e.Bytes)
		}
		fc.n++
		out := handle(fc, args)
		if out == "" {
			bw.Flush()
			return
		}
		bw.WriteString(out)
		if r.br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}

func bulk(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

// fakeSessiongate is a toy sessiongate: it issues tokens and refuses any it did not issue,
// so a workload that sends the wrong token shows up as errors.
type fakeSessiongate struct {
	mu     sync.Mutex
	issued map[string]bool
	next   int
}

func newFakeSessiongate() *fakeSessiongate { return &fakeSessiongate{issued: map[string]bool{}} }

func (f *fakeSessiongate) handle(_ *fakeConn, args []string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := strings.ToUpper(args[0])
	switch name {
	case "PING":
		return "+PONG\r\n"
	case "SESSIONGATE.START", "SESSIONGATE.CREATE":
		f.next++
		tok := fmt.Sprintf("v1.tok%d", f.next)
		if name == "SESSIONGATE.CREATE" || len(args) < 3 || args[2] != "0" { // TTL 0 is over at once
			f.issued[tok] = true
		}
		return bulk(tok)
	case "SESSIONGATE.LIST":
		return "*0\r\n"
	case "SESSIONGATE.ENDOWNER":
		return ":1\r\n"
	}
	if len(args) < 3 || !f.issued[args[2]] {
		return "-the session id contained in <token> does not exist\r\n"
	}
	switch name {
	case "SESSIONGATE.ROTATE":
		delete(f.issued, args[2])
		f.next++
		tok := fmt.Sprintf("v1.tok%d", f.next)
		f.issued[tok] = true
		return bulk(tok)
	case "SESSIONGATE.PGET":
		return bulk("data")
	case "SESSIONGATE.INFO", "SESSIONGATE.PGETALL":
		return "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
	case "SESSIONGATE.END":
		delete(f.issued, args[2])
	}
	return "+OK\r\n"
}

// fakeRedis answers the native commands the Redis dialect sends.
func fakeRedis(_ *fakeConn, args []string) string {
	switch strings.ToUpper(args[0]) {
	case "PING":
		return "+PONG\r\n"
	case "HGET":
		return bulk("data")
	case "HMGET", "HGETALL", "SMEMBERS":
		return "*0\r\n"
	case "RENAME":
		return "+OK\r\n"
	}
	return ":1\r\n"
}

// runMain runs the command line args and returns its exit code, stdout and stderr.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := realMain(ctx, args, &out, &errOut, false)
	return code, out.String(), errOut.String()
}

// fakeClock is a clock that moves only when told: SleepUntil jumps to its target at once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AtLeast moves the clock forward to t if it is behind.
func (c *fakeClock) AtLeast(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.AtLeast(t)
	return nil
}
