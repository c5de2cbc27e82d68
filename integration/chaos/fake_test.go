package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// fakeNode is a RESP server on 127.0.0.1 whose replies a test scripts: reply gets each
// command (name upper-cased) and returns raw RESP, or "" to close the connection unanswered.
type fakeNode struct {
	addr string
	mu   sync.Mutex
	got  [][]string
}

func newFakeNode(t *testing.T, reply func(args []string) string) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c, reply)
		}
	}()
	return f
}

func (f *fakeNode) serve(c net.Conn, reply func([]string) string) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		args[0] = strings.ToUpper(args[0])
		f.mu.Lock()
		f.got = append(f.got, args)
		f.mu.Unlock()
		out := errReply("ERR unknown command 'HELLO'") // go-redis then speaks RESP2 without it
		if args[0] != "HELLO" {
			out = reply(args)
		}
		if out == "" {
			return
		}
		if _, err := c.Write([]byte(out)); err != nil {
			return
		}
	}
}

func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	var n int
	if _, err := fmt.Sscanf(line, "*%d", &n); err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		var size int
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if _, err := fmt.Sscanf(line, "$%d", &size); err != nil {
			return nil, err
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args[i] = string(buf[:size])
	}
	return args, nil
}

// RESP encoders for scripted replies.
func bulk(s string) string     { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }
func errReply(s string) string { return "-" + s + "\r\n" }
func array(items ...string) string {
	return fmt.Sprintf("*%d\r\n%s", len(items), strings.Join(items, ""))
}

// member is one MEMBERS entry.
func member(name, state string) string {
	return array(bulk("name"), bulk(name), bulk("state"), bulk(state))
}

func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{}) // refused dials are what several tests are about
	os.Exit(m.Run())
}
