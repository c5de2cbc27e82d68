package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeNode answers each RESP command with reply(command name, args) on 127.0.0.1.
func fakeNode(t *testing.T, reply func(args []string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c, reply)
		}
	}()
	return ln.Addr().String()
}

func serve(c net.Conn, reply func([]string) string) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		args, err := readArray(r)
		if err != nil {
			return
		}
		if _, err := c.Write([]byte(reply(args) + "\r\n")); err != nil {
			return
		}
	}
}

func readArray(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	var n int
	if _, err := fmt.Sscanf(line, "*%d", &n); err != nil {
		return nil, err
	}
	args := make([]string, 0, n)
	for i := 0; i < n; i++ {
		if _, err := r.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		s, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args = append(args, strings.TrimRight(s, "\r\n"))
	}
	return args, nil
}

func TestPingHealthy(t *testing.T) {
	addr := fakeNode(t, func(args []string) string { return "+PONG" })
	if err := ping(context.Background(), addr, ""); err != nil {
		t.Fatalf("healthy node: %v", err)
	}
}

func TestPingWrongReply(t *testing.T) {
	addr := fakeNode(t, func(args []string) string { return "-LOADING" })
	if err := ping(context.Background(), addr, ""); !errors.Is(err, errUnexpected) {
		t.Fatalf("err = %v, want errUnexpected", err)
	}
}

func TestPingAuthenticatesFirst(t *testing.T) {
	addr := fakeNode(t, func(args []string) string {
		switch {
		case args[0] == "AUTH" && len(args) == 2 && args[1] == "s3cret":
			return "+OK"
		case args[0] == "AUTH":
			return "-WRONGPASS"
		}
		return "+PONG"
	})
	if err := ping(context.Background(), addr, "s3cret"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := ping(context.Background(), addr, "nope"); !errors.Is(err, errUnexpected) {
		t.Fatalf("wrong password: err = %v, want errUnexpected", err)
	}
}

func TestPingNoListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := ping(context.Background(), addr, ""); err == nil {
		t.Fatal("ping of a closed port succeeded")
	}
}

func TestPingSilentNodeTimesOut(t *testing.T) {
	// A paused container accepts the connection (the kernel does) but never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := ping(ctx, ln.Addr().String(), ""); err == nil {
		t.Fatal("ping of a silent node succeeded")
	}
}
