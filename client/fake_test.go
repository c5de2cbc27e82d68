package client

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeServer speaks just enough RESP for go-redis: it refuses HELLO (so the client falls
// back to RESP2 and sends nothing else at connect), records every SESSIONGATE command, and
// answers each with what the handler returns, raw. A handler returning closeConn drops the
// connection after reading the command, without a reply.
type fakeServer struct {
	ln      net.Listener
	handler func(args []string) string
	mu      sync.Mutex
	got     [][]string
	wg      sync.WaitGroup
}

const closeConn = "\x00close"

func newFake(t *testing.T, handler func(args []string) string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln, handler: handler}
	var conns sync.Map
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				f.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		f.wg.Wait()
	})
	return f
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

func (f *fakeServer) serve(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		name := strings.ToUpper(args[0])
		var reply string
		switch {
		case strings.HasPrefix(name, "SESSIONGATE."):
			f.mu.Lock()
			f.got = append(f.got, args)
			f.mu.Unlock()
			reply = f.handler(args)
		case name == "PING":
			reply = "+PONG\r\n"
		default:
			reply = "-ERR unknown command '" + args[0] + "'\r\n"
		}
		if reply == closeConn {
			return
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
	}
}

// commands returns the SESSIONGATE commands received so far.
func (f *fakeServer) commands() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.got...)
}

func (f *fakeServer) count() int { return len(f.commands()) }

func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return nil, fmt.Errorf("not an array: %q", line)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil {
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

// RESP reply builders.
func bulk(s string) string     { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }
func num(n int64) string       { return ":" + strconv.FormatInt(n, 10) + "\r\n" }
func errReply(s string) string { return "-" + s + "\r\n" }

const okReply = "+OK\r\n"

func array(items ...string) string {
	return "*" + strconv.Itoa(len(items)) + "\r\n" + strings.Join(items, "")
}

// resp3Map is a RESP3 map of the given key, value pairs.
func resp3Map(kv ...string) string {
	return "%" + strconv.Itoa(len(kv)/2) + "\r\n" + strings.Join(kv, "")
}

// fakeToken is a well-formed token (the fake checks no signatures).
var fakeToken = "v1.abcdefghijklmnop." + strings.Repeat("0123456789abcdef", 4)

func fakeClient(t *testing.T, cfg Config, fakes ...*fakeServer) *Client {
	t.Helper()
	for _, f := range fakes {
		cfg.Addrs = append(cfg.Addrs, f.addr())
	}
	if cfg.SignKey == nil {
		cfg.SignKey = []byte("fake-key")
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
