package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The end-to-end tests start real servers, so they are opt-in: SGBENCH_E2E=1 go test ./cmd/sgbench/
func requireE2E(t *testing.T) {
	if os.Getenv("SGBENCH_E2E") == "" {
		t.Skip("set SGBENCH_E2E=1 to run sgbench against a real sessiongated and redis-server")
	}
}

// buildSessiongated builds the server into a temporary directory, or skips the test.
func buildSessiongated(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sessiongated")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/sessiongate/sessiongate/cmd/sessiongated").CombinedOutput()
	if err != nil {
		t.Skipf("cannot build sessiongated, skipping: %v\n%s", err, out)
	}
	return bin
}

// freePorts finds a base port p with p, p+1 and p+2 free on 127.0.0.1.
func freePorts(t *testing.T) int {
	t.Helper()
	for range 100 {
		base := 20000 + rand.IntN(30000)
		ok := true
		for p := base; p < base+3 && ok; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

// startProc runs a server until the test ends and waits until addr answers PING.
func startProc(t *testing.T, addr string, bin string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(bin)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	eventually(t, 30*time.Second, func() error {
		c, err := dialConn(context.Background(), addr, time.Second, nil)
		if err != nil {
			return err
		}
		defer c.Close()
		return expect(c, 5*time.Second, '+', []byte("PING"))
	})
}

func eventually(t *testing.T, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func requireClean(t *testing.T, r *Result, ops int64) {
	t.Helper()
	if r.Ops != ops || r.Errors != 0 {
		t.Fatalf("%s %s: %d of %d ops, errors %v", r.Target, r.Workload, r.Ops, ops, r.ErrorKinds)
	}
}

func TestEndToEndSessiongated(t *testing.T) {
	requireE2E(t)
	bin := buildSessiongated(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t))
	startProc(t, addr, bin, "--addr", addr, "--log-level", "warn")
	for _, wl := range []string{"start", "read", "lifecycle", "extended"} {
		for _, depth := range []string{"1", "16"} {
			r := runJSON(t, "--addr", addr, "--workload", wl, "--ops", "3000", "--conns", "4",
				"--pipeline", depth, "--sessions", "500", "--ttl", "60")
			requireClean(t, r, 3000)
		}
	}
	r := runJSON(t, "--addr", addr, "--workload", "read", "--rate", "3000", "--ops", "1500", "--pipeline", "8", "--skew", "0.99")
	requireClean(t, r, 1500)
}

func TestEndToEndCluster(t *testing.T) {
	requireE2E(t)
	bin := buildSessiongated(t)
	base := freePorts(t)
	var addrs []string
	for i := 1; i <= 3; i++ {
		ip := fmt.Sprintf("127.0.0.%d", 20+i)
		resp := fmt.Sprintf("%s:%d", ip, base)
		addrs = append(addrs, resp)
		startProc(t, resp, bin, "--addr", resp, "--cluster-addr", fmt.Sprintf("%s:%d", ip, base+1),
			"--node-name", "n"+strconv.Itoa(i), "--join", fmt.Sprintf("127.0.0.21:%d", base+1),
			"--gossip-profile", "fast", "--log-level", "warn")
	}
	waitForCluster(t, addrs)
	r := runJSON(t, "--addr", strings.Join(addrs, ","), "--workload", "lifecycle", "--ops", "3000", "--conns", "6", "--pipeline", "4")
	requireClean(t, r, 3000)
	r = runJSON(t, "--addr", strings.Join(addrs, ","), "--spread", "first", "--workload", "extended", "--ops", "1400", "--conns", "2")
	requireClean(t, r, 1400)
}

// waitForCluster waits until every node sees the others alive and no partition lacks a replica.
func waitForCluster(t *testing.T, addrs []string) {
	t.Helper()
	eventually(t, 90*time.Second, func() error {
		for _, a := range addrs {
			c, err := dialConn(context.Background(), a, time.Second, nil)
			if err != nil {
				return err
			}
			members, err := c.do(5*time.Second, []byte("SESSIONGATE.CLUSTER"), []byte("MEMBERS"))
			if err == nil && len(members.Elems) != len(addrs) {
				err = fmt.Errorf("%s sees %d members", a, len(members.Elems))
			}
			for _, m := range members.Elems {
				if err == nil && len(m.Elems) > 3 && string(m.Elems[3].Bytes) != "alive" {
					err = fmt.Errorf("%s sees %s %s", a, m.Elems[1].Bytes, m.Elems[3].Bytes)
				}
			}
			if err == nil {
				var under Reply
				under, err = c.do(5*time.Second, []byte("SESSIONGATE.CLUSTER"), []byte("UNDERREPLICATED"))
				if err == nil && len(under.Elems) > 0 {
					err = fmt.Errorf("%s: %d partitions under-replicated", a, len(under.Elems))
				}
			}
			c.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func TestEndToEndRedis(t *testing.T) {
	requireE2E(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH (apt-get install -y redis-server)")
	}
	port := freePorts(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startProc(t, addr, bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	for _, wl := range []string{"start", "read", "lifecycle", "extended"} {
		r := runJSON(t, "--addr", addr, "--redis", "--workload", wl, "--ops", "3000", "--conns", "4", "--pipeline", "8", "--sessions", "500", "--ttl", "60")
		requireClean(t, r, 3000)
	}

	sgAddr := fmt.Sprintf("127.0.0.1:%d", freePorts(t))
	startProc(t, sgAddr, buildSessiongated(t), "--addr", sgAddr, "--log-level", "warn")
	code, stdout, stderr := runMain(t, "--compare", sgAddr+","+addr, "--ops", "2000", "--sessions", "200")
	if code != 0 || !strings.Contains(stdout, "throughput ratio sessiongate/redis") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Log("\n" + stdout)
}
