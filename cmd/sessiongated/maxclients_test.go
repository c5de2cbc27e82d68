package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/client/sgtest"
)

func TestClampMaxClients(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, c := range []struct {
		max   int
		limit uint64
		want  int
	}{
		{10000, 0, 10000},       // limit unknown
		{10000, 1 << 20, 10000}, // room for every client
		{10000, 1024, 1024 - reservedFiles},
		{10000, 512, 512 - reservedFiles},
		{100, 512, 100},
	} {
		logs.Reset()
		got, err := clampMaxClients(c.max, c.limit, log)
		if err != nil || got != c.want {
			t.Errorf("clamp(%d, limit %d) = %d, %v; want %d", c.max, c.limit, got, err, c.want)
		}
		if lowered := strings.Contains(logs.String(), "--maxclients lowered"); lowered != (got != c.max) {
			t.Errorf("clamp(%d, limit %d): logged %q", c.max, c.limit, logs.String())
		}
	}
	if _, err := clampMaxClients(10000, reservedFiles, log); err == nil {
		t.Error("a file limit that leaves no client a descriptor was accepted")
	}
}

// A node started with a 512-file limit, hit by 700 client connections, keeps serving those
// it took, turns the rest away, and serves new clients once they close.
func TestNodeUnderFileLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts sessiongated")
	}
	ctx := context.Background()
	dir := t.TempDir()
	bin, err := sgtest.Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(dir, "limited")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nulimit -n 512 || exit 9\nexec "+bin+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	n, err := sgtest.Start(ctx, wrapper)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if !strings.Contains(n.Log(), "--maxclients lowered") || !strings.Contains(n.Log(), "file_limit=512") {
		t.Fatalf("no clamp in the log:\n%s", n.Log())
	}
	ping := func(nc net.Conn, br *bufio.Reader, args ...string) string {
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(nc, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(nc, "$%d\r\n%s\r\n", len(a), a)
		}
		l, _ := br.ReadString('\n')
		return strings.TrimSpace(l)
	}
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	served, refused := 0, 0
	for range 700 {
		nc, err := net.DialTimeout("tcp", n.Addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, nc)
		switch got := ping(nc, bufio.NewReader(nc), "PING"); got {
		case "+PONG":
			served++
		case "-ERR max number of clients reached":
			refused++
		default:
			t.Fatalf("connection %d: %q", len(conns), got)
		}
	}
	if served != 512-reservedFiles || refused != 700-served {
		t.Errorf("served %d, refused %d", served, refused)
	}
	if got := ping(conns[0], bufio.NewReader(conns[0]), "PING"); got != "+PONG" {
		t.Fatalf("first connection after the others: %q", got)
	}
	for _, nc := range conns {
		nc.Close()
	}
	conns = nil
	deadline := time.Now().Add(30 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", n.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(nc)
		if ping(nc, br, "PING") == "+PONG" {
			if got := ping(nc, br, "SESSIONGATE.START", "k", "60"); !strings.HasPrefix(got, "$84") {
				t.Fatalf("START after recovery: %q", got)
			}
			nc.Close()
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no new client served after the others closed:\n%s", n.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !n.Alive() {
		t.Fatalf("node exited:\n%s", n.Log())
	}
}
