package resp

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fdLimitChildEnv makes the test binary the child of TestServeUnderFileLimit.
const fdLimitChildEnv = "SESSIONGATE_RESP_FDLIMIT_CHILD"

// A server whose process runs out of file descriptors keeps serving the clients it has and
// takes new ones once some close. The server runs in a child process with a 128-file limit
// and no connection cap below it, so its accepts really fail with EMFILE.
func TestServeUnderFileLimit(t *testing.T) {
	if os.Getenv(fdLimitChildEnv) != "" {
		fdLimitChild()
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeUnderFileLimit$")
	cmd.Env = append(os.Environ(), fdLimitChildEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	addr := strings.TrimSpace(line)

	first := dialRaw(t, addr)
	if got := first.do("PING"); got != "+PONG" {
		t.Fatalf("first PING: %q", got)
	}
	var conns []net.Conn
	for range 200 { // the kernel completes these handshakes; the child accepts what it can
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, nc)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "too many open files") {
		if time.Now().After(deadline) {
			t.Fatalf("the child never ran out of descriptors:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := first.do("PING"); got != "+PONG" {
		t.Fatalf("PING on a connection opened before the limit: %q", got)
	}
	select {
	case err := <-exited:
		t.Fatalf("the child exited at the file limit: %v\n%s", err, stderr.String())
	default:
	}
	for _, nc := range conns {
		nc.Close()
	}
	for {
		if ok := func() bool {
			nc, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return false
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(2 * time.Second))
			fmt.Fprint(nc, "*1\r\n$4\r\nPING\r\n")
			l, _ := bufio.NewReader(nc).ReadString('\n')
			return l == "+PONG\r\n"
		}(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new client served after the others closed:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fdLimitChild serves on a free port under a 128-file limit until stdin closes; it exits 3
// if Serve returns.
func fdLimitChild() {
	lim := syscall.Rlimit{Cur: 128, Max: 128}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "setrlimit:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s := NewServer(Config{MaxConns: 10000}, nil) // PING needs no backend
	go func() {
		err := s.Serve(ln)
		fmt.Fprintln(os.Stderr, "serve returned:", err)
		os.Exit(3)
	}()
	fmt.Println(ln.Addr().String())
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.Shutdown(ctx)
	os.Exit(0)
}
