package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"sync"
	"time"
)

// The fault types, in the order the report lists them.
var faultKinds = []string{
	"kill", "pause", "isolate", "isolate-two", "rolling-restart",
	"kill+pause", "kill+isolate", "pause+isolate", killAll,
}

// killAll kills every node at the same moment and starts them again: only a cluster whose
// nodes keep a data directory survives it, so it runs only against one (or when asked for).
const killAll = "kill-all"

// Every fault is bounded: it is held for a random time in [holdMin, holdMax].
const (
	holdMin = 3 * time.Second
	holdMax = 9 * time.Second
	// killHoldMin lets some kills restart before failure detection (about 1-2 s with the
	// fast gossip profile) and others after.
	killHoldMin = 300 * time.Millisecond
)

// window is one fault from injection to convergence after healing.
type window struct {
	kind      string
	nodes     []string
	start     time.Time
	healed    time.Time // everything put back
	end       time.Time // converged (or gave up)
	converge  time.Duration
	converged bool
	// down is, per node, when the fault held it (the node did not take client traffic
	// normally): [from, to].
	down map[string][2]time.Time
}

// nemesis injects faults into the cluster's containers, one at a time, and always heals.
type nemesis struct {
	d     *docker
	cs    []container
	rng   *rand.Rand
	wait  func(ctx context.Context) error               // waits for convergence
	ready func(ctx context.Context, c *container) error // waits for a node to answer
	log   *log.Logger

	mu      sync.Mutex
	windows []*window
	held    map[string]bool // nodes a fault holds now, until they answer again
}

func (n *nemesis) hold1(c *container, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.held == nil {
		n.held = map[string]bool{}
	}
	n.held[c.service] = on
}

// healthy lists the indexes of the nodes no fault holds now.
func (n *nemesis) healthy() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []int
	for i, c := range n.cs {
		if !n.held[c.service] {
			out = append(out, i)
		}
	}
	return out
}

// pick returns n distinct containers chosen at random.
func (n *nemesis) pick(k int) []*container {
	idx := n.rng.Perm(len(n.cs))[:k]
	out := make([]*container, k)
	for i, j := range idx {
		out[i] = &n.cs[j]
	}
	return out
}

func (n *nemesis) hold(min time.Duration) time.Duration {
	return min + time.Duration(n.rng.Int64N(int64(holdMax-min)))
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// action is one half of a fault on one container.
type action struct {
	c    *container
	name string
	do   func(context.Context, *container) error
}

// run injects one fault of the given kind, holds it, heals it and waits for convergence.
// Healing uses a context of its own: a cancelled run still puts every node back.
func (n *nemesis) run(ctx context.Context, kind string) (*window, error) {
	w := &window{kind: kind, start: time.Now(), down: map[string][2]time.Time{}}
	n.mu.Lock()
	n.windows = append(n.windows, w)
	n.mu.Unlock()
	if kind == "rolling-restart" {
		return w, n.rolling(ctx, w)
	}
	var inject, heal []action
	hold := n.hold(holdMin)
	add := func(c *container, in, out string, do, undo func(context.Context, *container) error) {
		w.nodes = append(w.nodes, c.service)
		inject = append(inject, action{c, in, do})
		heal = append(heal, action{c, out, undo})
	}
	d := n.d
	switch kind {
	case "kill":
		c := n.pick(1)[0]
		add(c, "kill", "start", d.kill, d.start)
		hold = n.hold(killHoldMin)
	case "pause":
		c := n.pick(1)[0]
		add(c, "pause", "unpause", d.pause, d.unpause)
	case "isolate":
		c := n.pick(1)[0]
		add(c, "disconnect", "connect", d.disconnect, d.connect)
	case "isolate-two":
		for _, c := range n.pick(2) {
			add(c, "disconnect", "connect", d.disconnect, d.connect)
		}
	case killAll:
		for i := range n.cs {
			add(&n.cs[i], "kill", "start", d.kill, d.start)
		}
		hold = n.hold(killHoldMin)
	case "kill+pause", "kill+isolate", "pause+isolate":
		cs := n.pick(2)
		for i, part := range splitKind(kind) {
			switch part {
			case "kill":
				add(cs[i], "kill", "start", d.kill, d.start)
			case "pause":
				add(cs[i], "pause", "unpause", d.pause, d.unpause)
			case "isolate":
				add(cs[i], "disconnect", "connect", d.disconnect, d.connect)
			}
		}
	default:
		return w, fmt.Errorf("unknown fault %q", kind)
	}
	err := n.inject(ctx, w, inject, kind == killAll)
	n.log.Printf("nemesis: holding %s for %v", kind, hold.Round(time.Millisecond))
	sleep(ctx, hold)
	hctx, cancel := context.WithTimeout(context.Background(), 3*dockerTimeout)
	defer cancel()
	n.rng.Shuffle(len(heal), func(i, j int) { heal[i], heal[j] = heal[j], heal[i] })
	for _, a := range heal {
		n.log.Printf("nemesis: %s %s", a.name, a.c.service)
		if e := a.do(hctx, a.c); e != nil && err == nil {
			err = e
		}
		dn := w.down[a.c.service]
		dn[1] = time.Now()
		w.down[a.c.service] = dn
	}
	w.healed = time.Now()
	for _, a := range heal {
		if e := n.ready(hctx, a.c); e != nil && err == nil {
			err = fmt.Errorf("%s after %s: %w", a.c.service, kind, e)
		}
		n.hold1(a.c, false)
	}
	n.converge(hctx, w, w.healed)
	return w, err
}

// inject carries out a fault's actions: one after another, or all at once (a power cut).
func (n *nemesis) inject(ctx context.Context, w *window, inject []action, atOnce bool) error {
	errs := make([]error, len(inject))
	var wg sync.WaitGroup
	for i, a := range inject {
		n.log.Printf("nemesis: %s %s", a.name, a.c.service)
		n.hold1(a.c, true)
		w.down[a.c.service] = [2]time.Time{time.Now()}
		if !atOnce {
			errs[i] = a.do(ctx, a.c)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.do(ctx, a.c)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// rolling restarts every node in turn with SIGTERM, waiting for the cluster to converge
// before the next.
func (n *nemesis) rolling(ctx context.Context, w *window) error {
	for _, i := range n.rng.Perm(len(n.cs)) {
		c := &n.cs[i]
		if ctx.Err() != nil {
			break
		}
		w.nodes = append(w.nodes, c.service)
		from := time.Now()
		n.log.Printf("nemesis: restart %s", c.service)
		n.hold1(c, true)
		if err := n.d.restart(ctx, c); err != nil {
			return err
		}
		err := n.ready(ctx, c)
		n.hold1(c, false)
		w.down[c.service] = [2]time.Time{from, time.Now()}
		if err != nil {
			return fmt.Errorf("%s after restart: %w", c.service, err)
		}
		w.healed = time.Now()
		n.converge(ctx, w, w.healed)
		if !w.converged {
			return fmt.Errorf("no convergence after restarting %s", c.service)
		}
	}
	return nil
}

func (n *nemesis) converge(ctx context.Context, w *window, since time.Time) {
	err := n.wait(ctx)
	w.end = time.Now()
	took := w.end.Sub(since)
	// A rolling restart converges once per node: keep the longest.
	w.converge = max(w.converge, took)
	w.converged = err == nil
	if err != nil {
		n.log.Printf("nemesis: %s: cluster did not converge: %v", w.kind, err)
		return
	}
	n.log.Printf("nemesis: %s healed; converged in %v", w.kind, took.Round(time.Millisecond))
}

// healAll puts every node back, whatever state a fault (or a crash of this program) left it in.
func (n *nemesis) healAll(ctx context.Context) error {
	var err error
	for i := range n.cs {
		if e := n.d.heal(ctx, &n.cs[i]); e != nil && err == nil {
			err = e
		}
		n.hold1(&n.cs[i], false)
	}
	return err
}

func splitKind(kind string) []string {
	for i := range kind {
		if kind[i] == '+' {
			return []string{kind[:i], kind[i+1:]}
		}
	}
	return []string{kind}
}

// schedule is the order of faults: every kind once (shuffled), then kinds at random.
type schedule struct {
	kinds []string
	rng   *rand.Rand
	queue []string
}

func newSchedule(kinds []string, rng *rand.Rand) *schedule {
	q := append([]string(nil), kinds...)
	rng.Shuffle(len(q), func(i, j int) { q[i], q[j] = q[j], q[i] })
	return &schedule{kinds: kinds, rng: rng, queue: q}
}

// next returns the next fault; done reports whether every kind has run once.
func (s *schedule) next() (kind string, firstRound bool) {
	if len(s.queue) > 0 {
		k := s.queue[0]
		s.queue = s.queue[1:]
		return k, true
	}
	return s.kinds[s.rng.IntN(len(s.kinds))], false
}

func (s *schedule) roundDone() bool { return len(s.queue) == 0 }
