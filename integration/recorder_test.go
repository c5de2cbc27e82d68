package integration

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The write load the restart tests run, what it was told, and the audit of what survived.
// acked is what the clients were told about one session: when each write was acknowledged
// (zero: it was not) and the payload last acknowledged ("" when the PSET's outcome is unknown).
type acked struct {
	val              string
	start, pset, end time.Time
	ending           bool // an END was sent: it may have run
}

// recorder runs write load and keeps both the history (for history.check) and when each write
// was acknowledged.
type recorder struct {
	h    *history
	mu   sync.Mutex
	tok  map[string]*acked
	acks atomic.Int64 // acknowledged writes: START, PSET and END
	errs atomic.Int64 // writes answered with an error
}

func newRecorder() *recorder {
	return &recorder{h: &history{value: map[string]string{}, ended: map[string]bool{}}, tok: map[string]*acked{}}
}

// loadClients are clients of their own to the nodes' RESP addresses: they outlive a restart
// (the address stays) and are closed with the test.
func loadClients(t *testing.T, c *cluster, n int) []*redis.Client {
	var out []*redis.Client
	for i := range n {
		addr := fmt.Sprintf("127.0.0.%d:%d", 10+i, c.port)
		cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, PoolSize: 4,
			DialTimeout: time.Second, ReadTimeout: 10 * time.Second})
		t.Cleanup(func() { cl.Close() })
		out = append(out, cl)
	}
	return out
}

// run starts workers that each loop START, PSET and, every few sessions, END of one of their
// earlier sessions, round robin over clients, until stop is closed. The returned function
// waits for them.
func (r *recorder) run(clients []*redis.Client, workers int, stop <-chan struct{}) (wait func()) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(clients, w, stop)
		}()
	}
	return wg.Wait
}

func (r *recorder) worker(clients []*redis.Client, w int, stop <-chan struct{}) {
	ctx := context.Background()
	failed := func() {
		r.errs.Add(1)
		select {
		case <-stop:
		case <-time.After(20 * time.Millisecond):
		}
	}
	var mine []string
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		cl := clients[(w+i)%len(clients)]
		tok, err := cl.Do(ctx, "SESSIONGATE.START", "it-key", 3600).Text()
		if err != nil {
			failed() // not acknowledged: nothing is promised
			continue
		}
		r.record(tok, func(a *acked) { a.start = time.Now() })
		val := fmt.Sprintf("w%d-%d", w, i)
		if err := cl.Do(ctx, "SESSIONGATE.PSET", "it-key", tok, "v", val).Err(); err != nil {
			failed() // the PSET's fate is unknown; only the session is promised
			continue
		}
		r.record(tok, func(a *acked) { a.val, a.pset = val, time.Now() })
		mine = append(mine, tok)
		if i%4 == 3 && len(mine) > 2 {
			// End a session of a few iterations ago: a write of its own, later than its PSET.
			old := mine[len(mine)-3]
			mine = append(mine[:len(mine)-3], mine[len(mine)-2:]...)
			r.record(old, func(a *acked) { a.ending = true })
			if err := cl.Do(ctx, "SESSIONGATE.END", "it-key", old).Err(); err != nil {
				r.forget(old) // it may or may not have ended: nothing can be checked
				failed()
				continue
			}
			r.record(old, func(a *acked) { a.end = time.Now() })
		}
	}
}

// record updates a session's entry under the lock, counts an acknowledgement when f set a
// time, and mirrors the entry into the history.
func (r *recorder) record(tok string, f func(*acked)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.tok[tok]
	if a == nil {
		a = &acked{}
		r.tok[tok] = a
	}
	before := a.acks()
	f(a)
	r.acks.Add(int64(a.acks() - before))
	r.h.mu.Lock()
	r.h.value[tok] = a.val
	if !a.end.IsZero() {
		r.h.ended[tok] = true
	}
	r.h.mu.Unlock()
}

func (r *recorder) forget(tok string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tok, tok)
	r.h.mu.Lock()
	delete(r.h.value, tok)
	delete(r.h.ended, tok)
	r.h.mu.Unlock()
}

func (a *acked) acks() int {
	n := 0
	for _, t := range []time.Time{a.start, a.pset, a.end} {
		if !t.IsZero() {
			n++
		}
	}
	return n
}

// tryAgain reports whether a node said it cannot answer yet.
func tryAgain(err error) bool {
	return err != nil && (strings.HasPrefix(err.Error(), "TRYAGAIN") || strings.HasPrefix(err.Error(), "CLUSTERDOWN"))
}

// loss is what one audit found: the acknowledged writes that did not survive, each with the
// time it was acknowledged.
type loss struct {
	checked  int    // acknowledged writes checked
	lost     []miss // START or PSET whose effect is gone
	back     []miss // END whose session is readable again
	sessions int
	ended    int
}

// miss is one acknowledged write that did not survive.
type miss struct {
	tok, what string
	at        time.Time // when it was acknowledged
}

// audit reads every recorded session through every process once the cluster has converged
// and returns the writes that are missing through any of them (counted once).
func (r *recorder) audit(t *testing.T, procs []*proc) loss {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx := context.Background()
	var out loss
	lost := map[string]bool{} // token/what, counted once over the processes
	for _, a := range r.tok {
		if a.start.IsZero() {
			continue // only a session whose START was acknowledged is promised
		}
		out.checked += a.acks()
		out.sessions++
		if !a.end.IsZero() {
			out.ended++
		}
	}
	for _, p := range procs {
		for tok, a := range r.tok {
			if a.start.IsZero() {
				continue
			}
			got, err := p.readPayload(ctx, tok)
			noSession := err != nil && strings.Contains(err.Error(), "session id contained in <token> does not exist")
			noPayload := err != nil && strings.Contains(err.Error(), "<payload_name> does not exist")
			gone := func(what string, at time.Time, into *[]miss) {
				if !lost[tok+what] {
					lost[tok+what] = true
					*into = append(*into, miss{tok, what, at})
				}
			}
			switch {
			case !a.end.IsZero():
				if !noSession {
					gone("end", a.end, &out.back)
					t.Logf("through %s: session ended at %s reads %q, %v", p.name, a.end.Format("15:04:05.000"), got, err)
				}
			case noSession:
				gone("start", a.start, &out.lost)
				if a.val != "" {
					gone("pset", a.pset, &out.lost)
				}
			case err != nil && !noPayload:
				t.Fatalf("read through %s: %v", p.name, err)
			case a.val != "" && (noPayload || got != a.val):
				gone("pset", a.pset, &out.lost)
			}
		}
	}
	return out
}

// waitReplicated waits until no live process reports an under-replicated partition.
func (c *cluster) waitReplicated(within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok := true
		for _, p := range c.alive() {
			res, err := p.client.Do(context.Background(), "SESSIONGATE.CLUSTER", "UNDERREPLICATED").Slice()
			if err != nil || len(res) != 0 {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("partitions still under-replicated after %v", within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var loadedLine = regexp.MustCompile(`msg="data directory loaded".* sessions=(\d+)`)

// loadedSessions is how many sessions p's log says it loaded from its data directory.
func loadedSessions(t *testing.T, p *proc) int {
	t.Helper()
	b, err := os.ReadFile(p.log.Name())
	if err != nil {
		t.Fatal(err)
	}
	m := loadedLine.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s did not log loading its data directory (log %s)", p.name, p.log.Name())
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// explain tells what every live process says of a session: its read and each member's copy.
func (c *cluster) explain(tok string) string {
	ctx := context.Background()
	var b strings.Builder
	for _, p := range c.alive() {
		got, err := p.client.Do(ctx, "SESSIONGATE.PGET", "it-key", tok, "v").Text()
		fmt.Fprintf(&b, "\n  PGET through %s: %q, %v", p.name, got, err)
	}
	for _, p := range c.alive() {
		res, err := p.client.Do(ctx, "SESSIONGATE.CLUSTER", "LOCATE", "it-key", tok).Result()
		fmt.Fprintf(&b, "\n  LOCATE through %s: %v %v (log %s)", p.name, res, err, p.log.Name())
		break
	}
	return b.String()
}

// killAll sends SIGKILL to every live process at the same moment and reaps them.
func (c *cluster) killAll() {
	procs := c.alive()
	var ready, wg sync.WaitGroup
	gate := make(chan struct{})
	for _, p := range procs {
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-gate
			p.cmd.Process.Kill()
			p.cmd.Wait()
			p.client.Close()
		}()
	}
	ready.Wait()
	close(gate)
	wg.Wait()
}

// loadUntil lets the load run for at least least and until it has min acknowledged writes,
// but no longer than most.
func (r *recorder) loadUntil(least time.Duration, min int64, most time.Duration) {
	began := time.Now()
	for time.Since(began) < most && (time.Since(began) < least || r.acks.Load() < min) {
		time.Sleep(20 * time.Millisecond)
	}
}
