package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// harness is one run: the cluster's containers, the clients, the nemesis and the checker.
type harness struct {
	cfg   Config
	lg    *log.Logger
	cs    []container
	names []string
	work  []*redis.Client // the workload's and the prober's connections
	admin []*redis.Client // convergence polls and checks
	nem   *nemesis
	anom  *anomalies
	errs  *errorTable

	gate    sync.RWMutex // the workload holds it for reading; a check locks it
	workers []*worker
	pr      *prober
	ck      *checker
	checks  int
	// healed is how long the cluster took to converge after the final heal.
	healed time.Duration
}

func runChaos(ctx context.Context, cfg Config, lg *log.Logger, stdout io.Writer) (int, error) {
	lg.Printf("chaos: seed %d, duration %v, faults %s, %d clients at %.0f ops/s", cfg.Seed, cfg.Duration,
		strings.Join(cfg.Faults, ","), cfg.Clients, cfg.Rate)
	h := &harness{cfg: cfg, lg: lg, anom: &anomalies{}, errs: newErrorTable()}
	d, err := newDocker(ctx, cfg.ComposeFile, cfg.Project)
	if err != nil {
		return exitSetup, err
	}
	if h.cs, err = d.containers(ctx); err != nil {
		return exitSetup, err
	}
	data := !slices.ContainsFunc(h.cs, func(c container) bool { return !c.data })
	switch {
	case cfg.DataFaults && data:
		cfg.Faults = append(cfg.Faults, killAll)
		h.cfg = cfg
		lg.Printf("chaos: every node keeps a data directory: %s joins the faults", killAll)
	case slices.Contains(cfg.Faults, killAll) && !data:
		return exitSetup, errors.New(killAll + " needs every node to keep a data directory (SESSIONGATE_DATA_DIR)")
	}
	h.connect()
	defer closeAll(h.work)
	defer closeAll(h.admin)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5e55))
	h.nem = &nemesis{d: d, cs: h.cs, rng: rng, log: lg,
		wait: func(ctx context.Context) error { return waitConverged(ctx, h.admin, cfg.ConvergeTimeout) },
		ready: func(ctx context.Context, c *container) error {
			return waitPing(ctx, h.admin[indexOf(h.cs, c)], cfg.ConvergeTimeout)
		},
	}
	// Whatever happens from here on, every node is put back before we return.
	defer h.healAll()
	start := time.Now()
	if err := waitConverged(ctx, h.admin, cfg.ConvergeTimeout); err != nil {
		return exitSetup, fmt.Errorf("the cluster is not converged before the run: %w", err)
	}
	parts, err := h.admin[0].Do(ctx, "SESSIONGATE.CLUSTER", "PARTITIONS").Slice()
	if err != nil || len(parts) == 0 {
		return exitSetup, fmt.Errorf("SESSIONGATE.CLUSTER PARTITIONS: %v", err)
	}
	lg.Printf("chaos: cluster converged in %v; %d partitions", time.Since(start).Round(time.Millisecond), len(parts))

	wctx, stopWork := context.WithCancel(context.Background())
	wait := h.startWorkload(wctx, len(parts))
	sleep(ctx, cfg.Warmup)
	healthy := h.faults(ctx, start, rng)
	stopWork()
	wait()
	runEnd := time.Now()

	healthy = h.healAll() && healthy
	final := h.check(ctx, quiet, true)
	if len(final.wrong) > 0 && ctx.Err() == nil {
		// Copies a node holds for partitions it no longer owns are handed over only when it
		// drops them (a minute by default): wait that out before calling anything lost.
		lg.Printf("chaos: %d items wrong; checking again in %v", len(final.wrong), cfg.Settle)
		sleep(ctx, cfg.Settle)
		final = h.check(ctx, quiet, true)
	}
	h.served(ctx)
	total := h.report(stdout, start, runEnd, final)
	switch {
	case ctx.Err() != nil:
		return exitSetup, errors.New("interrupted")
	case final.bad() || total.phantom > 0 || !healthy:
		return exitBad, errors.New("FAILED: see the table and the anomalies above")
	case cfg.Strict && total.staleAfter > 0:
		return exitBad, errors.New("FAILED (--strict): stale reads with no fault active")
	}
	fmt.Fprintln(stdout, "\nchaos: no acknowledged write lost, nothing resurrected")
	return exitOK, nil
}

// served logs how the nodes answered, from their INFO counters (which start again at zero
// when a node restarts, so these are lower bounds): commands forwarded to a primary, and
// reads a backup answered from its own copy under a read lease, writes replicated as a group,
// forwarded writes a primary ran on its replication reader (only outside the two-minute
// repair window after a view change, which faults keep renewing).
func (h *harness) served(ctx context.Context) {
	var forwarded, copies, grouped, inline uint64
	for _, c := range h.admin {
		info, err := c.Info(ctx).Result()
		if err != nil {
			continue
		}
		forwarded += infoCounter(info, "commands_forwarded")
		copies += infoCounter(info, "copy_reads")
		grouped += infoCounter(info, "grouped_writes")
		inline += infoCounter(info, "inline_writes")
	}
	h.lg.Printf("chaos: the nodes forwarded %d commands, answered %d reads from backups' copies, replicated %d writes in groups and ran %d forwarded writes inline (since each node's last start)", forwarded, copies, grouped, inline)
}

// infoCounter reads one "name:value" line of an INFO reply; 0 when it is missing.
func infoCounter(info, name string) uint64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	return 0
}

// connect opens the clients, two sets per node.
func (h *harness) connect() {
	for _, c := range h.cs {
		h.work = append(h.work, dial(c.addr, h.cfg.Clients+4, 6*time.Second))
		h.admin = append(h.admin, dial(c.addr, 4, 3*time.Second))
		h.names = append(h.names, c.service)
		h.lg.Printf("chaos: %s is %s (%s on %s), RESP at %s", c.service, c.id[:12], c.ip, c.network, c.addr)
	}
}

// startWorkload starts the clients and the prober; the returned function waits for them
// once ctx is done.
func (h *harness) startWorkload(ctx context.Context, parts int) (wait func()) {
	var wg sync.WaitGroup
	interval := time.Duration(float64(h.cfg.Clients) / h.cfg.Rate * float64(time.Second))
	h.pr = newProber(h.work, h.cfg.SignKey, h.cfg.Seed, h.nem.healthy, h.errs)
	wg.Add(1)
	go func() { defer wg.Done(); h.pr.run(ctx) }()
	for i := 0; i < h.cfg.Clients; i++ {
		w := newWorker(i, h.cfg.Seed, h.work, h.names, h.cfg.SignKey, parts, h.anom, h.errs)
		w.probe = h.pr
		h.workers = append(h.workers, w)
		wg.Add(1)
		go func() { defer wg.Done(); w.loop(ctx, interval, &h.gate) }()
	}
	h.ck = &checker{nodes: h.admin, names: h.names, key: h.cfg.SignKey, anom: h.anom, first: map[string]firstSeen{}}
	return wg.Wait
}

// faults injects faults until the duration has passed and every kind has run once. It
// reports false if the cluster did not converge after one.
func (h *harness) faults(ctx context.Context, start time.Time, rng *rand.Rand) bool {
	sched := newSchedule(h.cfg.Faults, rng)
	for ctx.Err() == nil && (time.Since(start) < h.cfg.Duration || !sched.roundDone()) {
		kind, _ := sched.next()
		w, err := h.nem.run(ctx, kind)
		if err != nil {
			h.lg.Printf("chaos: %s: %v", kind, err)
		}
		if !w.converged {
			return false
		}
		h.check(ctx, kind, false)
		sleep(ctx, h.cfg.Quiet)
	}
	return true
}

// check checks the whole history after phase: through every node when final, else through
// one node in turn (a read is answered by the partition's primary whichever node it
// enters; the final check covers forwarding from each).
func (h *harness) check(ctx context.Context, phase string, final bool) checkResult {
	h.gate.Lock() // the workload waits: the model must not move under the check
	defer h.gate.Unlock()
	var all []*session
	for _, w := range h.workers {
		all = append(all, w.all...)
	}
	through := []int{h.checks % len(h.admin)}
	h.checks++
	if final {
		through = through[:0]
		for i := range h.admin {
			through = append(through, i)
		}
	}
	t := time.Now()
	res := h.ck.check(ctx, all, phase, through)
	h.lg.Printf("chaos: check after %s: %d reads of %d sessions through %d nodes in %v: wrong now: %v", phase,
		res.reads, len(all), len(through), time.Since(t).Round(time.Millisecond), res)
	return res
}

// healAll puts every node back and waits for convergence; false if it does not come.
func (h *harness) healAll() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*dockerTimeout+h.cfg.ConvergeTimeout)
	defer cancel()
	if err := h.nem.healAll(ctx); err != nil {
		h.lg.Printf("chaos: healing: %v", err)
	}
	t := time.Now()
	if err := waitConverged(ctx, h.admin, h.cfg.ConvergeTimeout); err != nil {
		h.lg.Printf("chaos: convergence after healing: %v", err)
		return false
	}
	h.healed = time.Since(t)
	h.lg.Printf("chaos: everything healed; converged in %v", h.healed.Round(time.Millisecond))
	return true
}

// report prints the table, the details and the anomalies, and returns the total row.
func (h *harness) report(stdout io.Writer, start, runEnd time.Time, final checkResult) row {
	var ops []opRecord
	sessions := 0
	for _, w := range h.workers {
		ops = append(ops, w.ops...)
		sessions += len(w.all)
	}
	probes := h.pr.records()
	tl := &timeline{windows: h.nem.windows, names: h.names}
	if h.cfg.History != "" {
		if err := writeHistory(h.cfg.History, h.nem.windows, append(ops, probes...), h.names, h.errs); err != nil {
			h.lg.Printf("chaos: %v", err)
		}
	}
	rows := aggregate(tl, h.cfg.Faults, ops, probes, h.ck.first, final, runEnd)
	fmt.Fprintf(stdout, "\nchaos: seed %d, %v, %d clients, %d sessions checked through %d nodes\n\n", h.cfg.Seed,
		time.Since(start).Round(time.Second), h.cfg.Clients, sessions, len(h.admin))
	printTable(stdout, rows)
	fmt.Fprintf(stdout, "\nfinal check, everything healed and converged (in %.1fs): %v (of %d items found wrong by a check, %d still are)\n\n",
		h.healed.Seconds(), final, len(h.ck.first), len(final.wrong))
	printDetails(stdout, rows, h.errs)
	fmt.Fprintln(stdout)
	h.anom.print(stdout, tl)
	var all []*session
	for _, w := range h.workers {
		all = append(all, w.all...)
	}
	printTrails(stdout, final.wrong, all, ops, tl, h.names, h.errs, h.locate)
	return rows[len(rows)-1]
}

// locate asks the nodes, one after another until one answers, where token's session has
// copies (SESSIONGATE.CLUSTER LOCATE), in one line.
func (h *harness) locate(token string) string {
	var last error
	for _, c := range h.admin {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := c.Do(ctx, "SESSIONGATE.CLUSTER", "LOCATE", h.cfg.SignKey, token).Slice()
		cancel()
		if err != nil {
			last = err
			continue
		}
		var parts []string
		for _, e := range res {
			m, _ := fields(e) // a malformed entry prints as <nil> fields
			part := fmt.Sprintf("%v(rank %v) %v", m["node"], m["rank"], m["state"])
			if m["state"] == "live" {
				part += fmt.Sprintf(" v%v dl %v", m["version"], m["deadline_ms"])
			}
			if s, _ := m["next"].(string); s != "" {
				part += " next " + s
			}
			if s, _ := m["error"].(string); s != "" {
				part += " (" + s + ")"
			}
			parts = append(parts, part)
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("not known: %v", last)
}
