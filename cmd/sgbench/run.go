package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// Targets.
const (
	targetSessiongate = "sessiongate"
	targetRedis       = "redis"
)

// poolBatch is how many requests each connection pipelines while it creates the pool.
const poolBatch = 64

// errConnect is wrapped by every failure to reach a target.
var errConnect = errors.New("cannot connect")

// bench runs cfg once against addrs, speaking target's dialect, and returns the figures.
// It ends after cfg.Duration or cfg.Ops, or early (with the figures so far) when ctx ends.
func bench(ctx context.Context, cfg *Config, target string, addrs []string, clk clock, stderr io.Writer, tty bool) (*Result, error) {
	for _, pid := range cfg.Pids { // a wrong pid fails before the setup, not after it
		if _, err := serverCPU(pid); err != nil {
			return nil, err
		}
	}
	conns, err := connect(ctx, cfg, target, addrs)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	data := payload(cfg.Payload)
	dialects := make([]dialect, len(conns))
	rngs := make([]*rand.Rand, len(conns))
	for i := range conns {
		rngs[i] = rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		dialects[i] = newDialect(cfg, target, data, rngs[i])
	}
	var pool []session
	var z *zipf
	if cfg.Workload == workloadRead {
		fmt.Fprintf(stderr, "sgbench: creating %d sessions on %s\n", cfg.Sessions, target)
		if pool, err = fillPool(ctx, cfg, conns, dialects); err != nil {
			return nil, err
		}
		z = newZipf(cfg.Sessions, cfg.Skew)
	}
	prog := &progress{}
	b := newBudget(cfg.Ops)
	workers := make([]*worker, len(conns))
	for i, c := range conns {
		wl, err := newWorkload(cfg.Workload, dialects[i], pool, z, cfg.ReadRatio, rngs[i], i)
		if err != nil {
			return nil, err
		}
		workers[i] = newWorker(c, wl, dialects[i], cfg.Pipeline, prog, b, clk, cfg.Timeout)
	}

	fmt.Fprintf(stderr, "sgbench: %s\n", describe(cfg, target, addrs))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	srvBefore := make([]time.Duration, len(cfg.Pids))
	for i, pid := range cfg.Pids {
		var err error
		if srvBefore[i], err = serverCPU(pid); err != nil {
			return nil, err
		}
	}
	start, cpu := clk.Now(), processCPU()
	stopProgress := showProgress(stderr, tty, prog, start, clk)
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Rate > 0 {
				interval := time.Duration(float64(time.Second) * float64(cfg.Conns) / cfg.Rate)
				// Spread the connections' schedules over one interval so they do not fire together.
				errs[i] = w.openLoop(runCtx, interval, interval*time.Duration(i)/time.Duration(cfg.Conns))
			} else {
				errs[i] = w.closedLoop(runCtx)
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := clk.Now().Sub(start), processCPU()-cpu
	stopProgress()

	total := newStats()
	for _, w := range workers {
		total.merge(w.st)
	}
	res := total.result(elapsed)
	res.Target, res.Addrs, res.Workload = target, addrs, cfg.Workload
	res.Conns, res.Pipeline, res.Payload, res.Rate = cfg.Conns, cfg.Pipeline, cfg.Payload, cfg.Rate
	res.ClientCPU = cpu.Seconds()
	for i, pid := range cfg.Pids {
		sc := ServerCPU{PID: pid, Seconds: -1} // -1: the process was gone by the end
		if after, err := serverCPU(pid); err == nil {
			sc.Seconds = (after - srvBefore[i]).Seconds()
		}
		res.ServerCPU = append(res.ServerCPU, sc)
	}
	switch {
	case pool == nil || cfg.KeepSessions:
	case ctx.Err() != nil: // interrupted: the user wants out, not a cleanup
		fmt.Fprintf(stderr, "sgbench: leaving the %d sessions made for the run (they expire after --ttl)\n", len(pool))
	default:
		if err := endPool(cfg, target, addrs, pool); err != nil {
			fmt.Fprintf(stderr, "sgbench: ending the %d sessions made for the run: %v (they expire after --ttl)\n", len(pool), err)
		}
	}
	if err := errors.Join(errs...); err != nil && res.Ops == 0 {
		return res, fmt.Errorf("every connection failed: %w", err)
	}
	return res, nil
}

// connect opens cfg.Conns connections over addrs and checks that each address answers:
// PING, AUTH when a password is set, and for sessiongate a START that ends at once.
func connect(ctx context.Context, cfg *Config, target string, addrs []string) ([]*Conn, error) {
	conns := make([]*Conn, 0, cfg.Conns)
	fail := func(err error) ([]*Conn, error) {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	checked := map[string]bool{}
	for i := range cfg.Conns {
		addr := addrs[0]
		if cfg.Spread == "all" {
			addr = addrs[i%len(addrs)]
		}
		c, err := dialConn(ctx, addr, cfg.Timeout, cfg.TLS)
		if err != nil {
			return fail(fmt.Errorf("%w to %s: %w", errConnect, addr, err))
		}
		conns = append(conns, c)
		if cfg.Password != "" {
			if err := expect(c, cfg.Timeout, '+', []byte("AUTH"), []byte(cfg.Password)); err != nil {
				return fail(fmt.Errorf("%w to %s: AUTH: %w", errConnect, addr, err))
			}
		}
		if checked[addr] {
			continue
		}
		checked[addr] = true
		if err := expect(c, cfg.Timeout, '+', []byte("PING")); err != nil {
			return fail(fmt.Errorf("%w to %s: PING: %w", errConnect, addr, err))
		}
		if target == targetSessiongate {
			err := expect(c, cfg.Timeout, '$', []byte("SESSIONGATE.START"), []byte(cfg.SignKey), []byte("0"))
			if err != nil {
				return fail(fmt.Errorf("%s does not answer SESSIONGATE.START (%w); for plain Redis use --redis", addr, err))
			}
		}
	}
	return conns, nil
}

// expect sends one command and wants a reply of the given type.
func expect(c *Conn, timeout time.Duration, want byte, args ...[]byte) error {
	rep, err := c.do(timeout, args...)
	if err != nil {
		return err
	}
	if rep.Type != want || rep.Nil {
		return fmt.Errorf("reply %s", truncate(rep.String(), 100))
	}
	return nil
}

// fillPool creates the read workload's sessions, each with payload "a", spread over the
// connections and pipelined poolBatch at a time.
func fillPool(ctx context.Context, cfg *Config, conns []*Conn, dialects []dialect) ([]session, error) {
	pool := make([]session, cfg.Sessions)
	err := forParts(conns, pool, func(i int, part []session) error {
		d := dialects[i]
		if err := perSession(ctx, cfg, conns[i], d, part, d.start, d.started); err != nil {
			return err
		}
		pset := func(w *writer, s *session) op { return d.pset(w, s, nameA) }
		return perSession(ctx, cfg, conns[i], d, part, pset, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("creating sessions: %w", err)
	}
	return pool, nil
}

// endPool ends the read workload's sessions after the run, on connections of its own (an
// open-loop run may stop with replies still on the way), so that runs do not pile sessions
// up on the target until their TTL: a store that grows from run to run gets slower to read,
// and the next comparison would not be fair.
func endPool(cfg *Config, target string, addrs []string, pool []session) error {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout+time.Duration(len(pool))*time.Millisecond)
	defer cancel()
	conns, err := connect(ctx, cfg, target, addrs)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	data := payload(cfg.Payload)
	return forParts(conns, pool, func(i int, part []session) error {
		d := newDialect(cfg, target, data, rand.New(rand.NewPCG(cfg.Seed, uint64(i))))
		return perSession(ctx, cfg, conns[i], d, part, d.end, nil)
	})
}

// newDialect returns the dialect of target; rng makes the Redis dialect's keys.
func newDialect(cfg *Config, target string, data []byte, rng *rand.Rand) dialect {
	if target == targetRedis {
		return newRedisDialect(cfg, data, rng)
	}
	return newSessiongateDialect(cfg, data)
}

// forParts splits pool into one part per connection and runs fn on each part concurrently.
func forParts(conns []*Conn, pool []session, fn func(i int, part []session) error) error {
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i := range conns {
		part := pool[i*len(pool)/len(conns) : (i+1)*len(pool)/len(conns)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i, part)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// perSession sends the request mk makes for each session of part over c, poolBatch at a
// time, and hands each first reply to got, if set. An error reply fails it.
func perSession(ctx context.Context, cfg *Config, c *Conn, d dialect, part []session, mk func(*writer, *session) op, got func(*session, Reply)) error {
	ops := make([]op, poolBatch)
	var keep []byte
	for lo := 0; lo < len(part); lo += poolBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := part[lo:min(lo+poolBatch, len(part))]
		for i := range batch {
			ops[i] = mk(c.w, &batch[i])
		}
		if err := c.flush(cfg.Timeout); err != nil {
			return err
		}
		for i := range batch {
			first, kind, err := readOp(c, d, ops[i], &keep)
			if err != nil {
				return err
			}
			if kind != "" {
				return fmt.Errorf("%s on %s: %s", ops[i].cmd, c.addr, kind)
			}
			if got != nil {
				got(&batch[i], first)
			}
		}
	}
	return nil
}

// payload is the data every PSET writes: n printable bytes.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// showProgress prints a line on w every second until the returned function is called.
func showProgress(w io.Writer, tty bool, p *progress, start time.Time, clk clock) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprintln(w)
				}
				return
			case <-t.C:
			}
			ok, failed := p.ok.Load(), p.failed.Load()
			line := fmt.Sprintf("%6.1fs  %10d ops  %10.0f ops/s  %d errors",
				clk.Now().Sub(start).Seconds(), ok, float64(ok-last), failed)
			last = ok
			if tty {
				fmt.Fprintf(w, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
