// Package sgtest starts real sessiongated processes for tests, the way net/http/httptest
// starts HTTP servers: build the binary once (in TestMain), then start nodes per test on
// free 127.0.0.1 ports and kill them when done.
package sgtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Package is the import path of the server's main package.
const Package = "github.com/sessiongate/sessiongate/cmd/sessiongated"

// Build compiles sessiongated into dir and returns the binary's path. It must run inside
// the sessiongate module (any package directory of it will do, as under go test).
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "sessiongated")
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, Package)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", Package, err, out.Bytes())
	}
	return bin, nil
}

// Node is one running sessiongated process.
type Node struct {
	Addr string // RESP address
	Name string // node name, for cluster nodes
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has exited
}

// FreeAddr returns a 127.0.0.1 address that was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Start runs bin with --addr on a free port plus args, and returns once it answers PING.
// A port taken between choosing and binding is retried with another.
func Start(ctx context.Context, bin string, args ...string) (*Node, error) {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		addr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		n, err := start(ctx, bin, addr, args)
		if err == nil {
			return n, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func start(ctx context.Context, bin, addr string, args []string) (*Node, error) {
	logf, err := os.CreateTemp("", "sessiongated-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"--addr", addr}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.Remove(logf.Name())
		return nil, err
	}
	n := &Node{Addr: addr, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { cmd.Wait(); close(n.done) }()
	if err := n.waitReady(ctx); err != nil {
		log := n.Log()
		n.Close()
		return nil, fmt.Errorf("sessiongated on %s: %w\n%s", addr, err, log)
	}
	return n, nil
}

// waitReady waits until the node answers PING; NOAUTH counts, since a node started with
// --requirepass is ready too.
func (n *Node) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if ping(ctx, n.Addr) {
			return nil
		}
		select {
		case <-n.done:
			return errors.New("exited before answering PING")
		case <-ctx.Done():
			return fmt.Errorf("no PING answer: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func ping(ctx context.Context, addr string) bool {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}

// Kill stops the process with SIGKILL and waits for it to exit.
func (n *Node) Kill() {
	select {
	case <-n.done:
	default:
		n.cmd.Process.Kill()
		<-n.done
	}
}

// Alive reports whether the process is still running.
func (n *Node) Alive() bool {
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Log returns what the process wrote to stdout and stderr so far.
func (n *Node) Log() string {
	b, _ := os.ReadFile(n.log.Name())
	return string(b)
}

// Close kills the process and removes its log.
func (n *Node) Close() {
	n.Kill()
	n.log.Close()
	os.Remove(n.log.Name())
}
