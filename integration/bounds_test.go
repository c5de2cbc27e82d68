package integration

import (
	"bufio"
	"context"
	be "encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// rssKiB reads a process's resident set size from /proc.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// A thousand replication connections, each announcing a 64 MiB frame and sending a few bytes
// of it, leave a real node's memory bounded, and the node serving. The node runs
// without a cluster secret on loopback, so the connections pass the (insecure) handshake: with
// a secret they would not get that far.
func TestFrameClaimsLeaveRSSBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process and opens 1,000 connections")
	}
	// Without the race detector, whose shadow memory would blur the figure.
	bin := filepath.Join(t.TempDir(), "sessiongated")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/sessiongated").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	base := freeBase(t)
	resp := fmt.Sprintf("127.0.0.1:%d", base)
	repl := fmt.Sprintf("127.0.0.1:%d", base+2)
	cmd := exec.Command(bin, "--addr", resp, "--cluster-addr", fmt.Sprintf("127.0.0.1:%d", base+1), "--node-name", "big")
	logf, _ := os.CreateTemp(t.TempDir(), "log")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	rc := redis.NewClient(&redis.Options{Addr: resp, Protocol: 2})
	defer rc.Close()
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); rc.Ping(ctx).Err() != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the node did not start")
		}
	}
	before := rssKiB(t, cmd.Process.Pid)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// An insecure client hello: magic, nonce, no name, no key ids.
	hello := append([]byte("SGR1"), make([]byte, 32+1+1)...)
	claim := make([]byte, 14)
	be.BigEndian.PutUint32(claim, 64<<20) // length of what follows the length field
	claim[12] = 1                         // a request
	for i := range 1000 {
		c, err := net.Dial("tcp", repl)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		c.Write(hello)
		r := bufio.NewReader(c)
		head := make([]byte, 4+1+32+1)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(r, head); err != nil {
			t.Fatalf("connection %d: no server hello: %v", i, err)
		}
		io.CopyN(io.Discard, r, int64(head[len(head)-1])) // the server's name
		c.Write(append(claim, "a few bytes"...))
	}
	time.Sleep(500 * time.Millisecond) // the node reads the claims
	after := rssKiB(t, cmd.Process.Pid)
	// Resident memory alone would hide allocations whose pages were never written: the Go heap
	// as the node reports it counts them.
	info, err := rc.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	var heap int
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory_heap:"); ok {
			heap, _ = strconv.Atoi(v)
		}
	}
	t.Logf("resident memory %d MiB before, %d MiB with 1,000 connections claiming 64 MiB frames; Go heap %d MiB", before>>10, after>>10, heap>>20)
	if after > 200<<10 || heap == 0 || heap > 200<<20 {
		t.Fatalf("resident memory %d MiB, Go heap %d MiB", after>>10, heap>>20)
	}
	if err := rc.Do(ctx, "SESSIONGATE.START", "k", 60).Err(); err != nil {
		t.Fatalf("the node stopped serving: %v", err)
	}
}
