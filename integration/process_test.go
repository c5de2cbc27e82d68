// Package integration starts real sessiongated processes on 127.0.0.x addresses and checks
// that acknowledged sessions survive kill -9, SIGSTOP, a join under load and a SIGTERM.
package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sessiongated-it")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "sessiongated")
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/sessiongated")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot build sessiongated:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one sessiongated process.
type proc struct {
	name, ip   string
	resp, goss string
	cmd        *exec.Cmd
	log        *os.File
	client     *redis.Client
}

type cluster struct {
	t     *testing.T
	port  int // base port, the same on every 127.0.0.x address
	procs map[string]*proc
	seed  string
}

func freeBase(t *testing.T) int {
	for i := 0; i < 50; i++ {
		base := 20000 + rand.IntN(30000)
		ok := true
		for _, p := range []int{base, base + 1, base + 2} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

func newCluster(t *testing.T) *cluster {
	c := &cluster{t: t, port: freeBase(t), procs: map[string]*proc{}}
	t.Cleanup(func() {
		for _, p := range c.procs {
			p.kill()
		}
	})
	return c
}

// start launches node i (the first one started is every later one's seed) and waits until
// it answers.
func (c *cluster) start(i int, extra ...string) *proc {
	c.t.Helper()
	if c.seed == "" {
		c.seed = fmt.Sprintf("127.0.0.%d:%d", 10+i, c.port+1)
	}
	p := c.launch(i, extra...)
	c.waitUp([]*proc{p}, 30*time.Second)
	return p
}

// launch starts node i, joining c.seed, without waiting for it to answer: a node that loaded
// data waits for a peer before it serves, so a whole cluster must be started at once.
func (c *cluster) launch(i int, extra ...string) *proc {
	c.t.Helper()
	ip := fmt.Sprintf("127.0.0.%d", 10+i)
	p := &proc{
		name: fmt.Sprintf("n%d", i), ip: ip,
		resp: fmt.Sprintf("%s:%d", ip, c.port),
		goss: fmt.Sprintf("%s:%d", ip, c.port+1),
	}
	logf, err := os.CreateTemp("", p.name+"-*.log")
	if err != nil {
		c.t.Fatal(err)
	}
	p.log = logf
	args := append([]string{"--addr", p.resp, "--cluster-addr", p.goss, "--node-name", p.name, "--join", c.seed,
		"--gossip-profile", "fast", "--anti-entropy-interval", "2s", "--rejoin-interval", "1s"}, extra...)
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p.client = redis.NewClient(&redis.Options{Addr: p.resp, Protocol: 2, MaxRetries: -1, ReadTimeout: 10 * time.Second})
	c.procs[p.name] = p
	return p
}

// waitUp waits until every given process answers PING.
func (c *cluster) waitUp(procs []*proc, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for _, p := range procs {
		for p.client.Ping(context.Background()).Err() != nil {
			if time.Now().After(deadline) {
				c.t.Fatalf("%s did not answer within %v; log %s", p.name, within, p.log.Name())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGCONT)
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
	p.client.Close()
}

func (c *cluster) alive() []*proc {
	var out []*proc
	for _, p := range c.procs {
		if p.cmd.ProcessState == nil {
			out = append(out, p)
		}
	}
	return out
}

// waitMembers waits until every live process sees exactly n alive members.
func (c *cluster) waitMembers(n int) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		for _, p := range c.alive() {
			res, err := p.client.Do(context.Background(), "SESSIONGATE.CLUSTER", "MEMBERS").Slice()
			if err != nil || len(res) != n {
				ok = false
				break
			}
			for _, m := range res {
				if !strings.Contains(fmt.Sprint(m), "state alive") {
					ok = false
				}
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("members never reached %d", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// history is what the clients were told: acknowledged payloads and ended sessions.
type history struct {
	mu    sync.Mutex
	value map[string]string // token -> last acknowledged payload
	ended map[string]bool
}

func retryable(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.HasPrefix(s, "TRYAGAIN") || strings.HasPrefix(s, "CLUSTERDOWN") || strings.Contains(s, "connection") ||
		strings.Contains(s, "EOF") || strings.Contains(s, "timeout") || strings.Contains(s, "reset")
}

// write starts n sessions through the given processes and records what was acknowledged.
func (h *history) write(procs []*proc, n int, tag string) {
	ctx := context.Background()
	for i := 0; i < n; i++ {
		p := procs[i%len(procs)]
		tok, err := p.client.Do(ctx, "SESSIONGATE.START", "it-key", 3600).Text()
		if err != nil {
			continue // not acknowledged: nothing is promised
		}
		val := fmt.Sprintf("%s-%d", tag, i)
		if err := p.client.Do(ctx, "SESSIONGATE.PSET", "it-key", tok, "v", val).Err(); err != nil {
			val = "" // the PSET's fate is unknown; only the session is promised
		}
		h.mu.Lock()
		h.value[tok] = val
		h.mu.Unlock()
	}
}

// readPayload reads a session's payload "v" through p, trying again for up to ten seconds
// while the answer is retryable.
func (p *proc) readPayload(ctx context.Context, tok string) (got string, err error) {
	for attempt := 0; attempt < 100; attempt++ {
		got, err = p.client.Do(ctx, "SESSIONGATE.PGET", "it-key", tok, "v").Text()
		if !retryable(err) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return got, err
}

// check reads every acknowledged session through every live process.
func (h *history) check(t *testing.T, procs []*proc) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	ctx := context.Background()
	for _, p := range procs {
		lost, stale, back := 0, 0, 0
		for tok, want := range h.value {
			got, err := p.readPayload(ctx, tok)
			switch {
			case h.ended[tok]:
				if err == nil || !strings.Contains(err.Error(), "session id contained in <token> does not exist") {
					back++
				}
			case want == "":
				if err != nil && !strings.Contains(err.Error(), "payload_name") {
					lost++
				}
			case err != nil && strings.Contains(err.Error(), "does not exist"):
				lost++
			case err != nil:
				t.Fatalf("read through %s: %v", p.name, err)
			case got != want:
				stale++
			}
		}
		if lost+stale+back > 0 {
			t.Fatalf("through %s: %d lost, %d stale, %d resurrected of %d sessions", p.name, lost, stale, back, len(h.value))
		}
	}
}

func (h *history) end(p *proc, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for tok := range h.value {
		if n == 0 {
			return
		}
		if h.ended[tok] {
			continue
		}
		if err := p.client.Do(context.Background(), "SESSIONGATE.END", "it-key", tok).Err(); err == nil {
			h.ended[tok] = true
			n--
		}
	}
}

func TestProcessesSurviveFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	c := newCluster(t)
	for i := 0; i < 5; i++ {
		c.start(i)
	}
	c.waitMembers(5)
	h := &history{value: map[string]string{}, ended: map[string]bool{}}
	h.write(c.alive(), 2000, "initial")
	h.end(c.alive()[0], 200)
	h.check(t, c.alive())
	t.Logf("wrote %d sessions, ended %d", len(h.value), len(h.ended))

	// kill -9 one node: nothing acknowledged is lost.
	victim := c.procs["n1"]
	victim.cmd.Process.Kill()
	victim.cmd.Wait()
	start := time.Now()
	c.waitMembers(4)
	t.Logf("kill -9: declared dead after %v", time.Since(start))
	h.check(t, c.alive())

	// SIGSTOP longer than failure detection, then resume.
	paused := c.procs["n2"]
	paused.cmd.Process.Signal(syscall.SIGSTOP)
	c.waitMembersExcept(3, paused)
	h.write(c.aliveExcept(paused), 200, "during-pause")
	paused.cmd.Process.Signal(syscall.SIGCONT)
	c.waitMembers(4)
	h.check(t, c.alive())

	// Add a node under load.
	var wg sync.WaitGroup
	wg.Add(1)
	writers := c.alive()
	go func() { defer wg.Done(); h.write(writers, 500, "during-join") }()
	c.start(5)
	wg.Wait()
	c.waitMembers(5)
	h.check(t, c.alive())

	// SIGTERM: a graceful leave hands partitions off first.
	leaver := c.procs["n3"]
	leaver.cmd.Process.Signal(syscall.SIGTERM)
	if err := leaver.cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM exit: %v", err)
	}
	c.waitMembers(4)
	h.check(t, c.alive())
	t.Logf("checked %d sessions (%d ended) through every node after each fault", len(h.value), len(h.ended))
}

func (c *cluster) aliveExcept(x *proc) []*proc {
	var out []*proc
	for _, p := range c.alive() {
		if p != x {
			out = append(out, p)
		}
	}
	return out
}

func (c *cluster) waitMembersExcept(n int, x *proc) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		for _, p := range c.aliveExcept(x) {
			res, err := p.client.Do(context.Background(), "SESSIONGATE.CLUSTER", "MEMBERS").Slice()
			if err != nil || len(res) != n {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("members never reached %d without %s", n, x.name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
