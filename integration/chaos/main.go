// Command chaos runs a session workload against a sessiongate cluster in docker compose
// while a nemesis kills, pauses, partitions and restarts its containers, then checks the
// history: every acknowledged write is still there with its last acknowledged value
// through every node, no ended or expired session came back, and reads outside faults
// were not stale. It prints one row per fault type and exits 1 on any loss.
//
//	go run ./integration/chaos --duration 3m --compose-file docker-compose.yml --project sgchaos
//
// The cluster must be up (docker compose up -d) with one container per service, each on one
// network with a fixed ipv4_address and its RESP port (6380) published. See .ci/chaos.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config is one run's settings; the flags fill it.
type Config struct {
	// Duration is how long faults keep coming (default 3m). A run always injects every
	// fault type once, so it can last longer.
	Duration time.Duration
	// Seed drives the fault schedule and the workload (default: from the clock; printed).
	Seed uint64
	// ComposeFile and Project name the compose project the cluster runs in.
	ComposeFile, Project string
	// Clients is the number of concurrent clients (default 16); Rate their operations per
	// second in all (default 400).
	Clients int
	Rate    float64
	// Faults are the fault types to inject (default all).
	Faults []string
	// DataFaults adds the faults only a cluster with data directories survives (kill-all)
	// when every node has one: set when Faults was not given.
	DataFaults bool
	// Warmup is the quiet time before the first fault, Quiet the time between faults
	// (defaults 10s and 5s).
	Warmup, Quiet time.Duration
	// ConvergeTimeout bounds the wait for convergence after each fault (default 2m).
	ConvergeTimeout time.Duration
	// SignKey is the tenant's sign key (default "chaos-key").
	SignKey string
	// Settle is how long to wait before checking again when the final check finds items
	// wrong (default 90s: past the nodes' one-minute DropAfter hand-off).
	Settle time.Duration
	// Strict also fails the run on stale reads while no fault was active.
	Strict bool
	// History, if set, is a file to write every fault and operation to (JSON lines).
	History string
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	var faults string
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&c.Duration, "duration", 3*time.Minute, "how long faults keep coming (every fault type runs at least once)")
	fs.Uint64Var(&c.Seed, "seed", 0, "random seed for the schedule and the workload (0: from the clock)")
	fs.StringVar(&c.ComposeFile, "compose-file", "docker-compose.yml", "the compose file the cluster was started with")
	fs.StringVar(&c.Project, "project", "", "the compose project name (empty: compose's default)")
	fs.IntVar(&c.Clients, "clients", 16, "concurrent clients")
	fs.Float64Var(&c.Rate, "rate", 400, "operations per second, all clients together")
	fs.StringVar(&faults, "faults", "", "fault types to inject (default: all; "+killAll+" only when every node keeps a data directory)")
	fs.DurationVar(&c.Warmup, "warmup", 10*time.Second, "quiet time before the first fault")
	fs.DurationVar(&c.Quiet, "quiet", 5*time.Second, "quiet time between faults")
	fs.DurationVar(&c.ConvergeTimeout, "converge-timeout", 2*time.Minute, "how long to wait for convergence after a fault")
	fs.StringVar(&c.SignKey, "key", "chaos-key", "the sign key the workload uses")
	fs.DurationVar(&c.Settle, "settle", 90*time.Second, "wait before checking again when the final check finds items wrong")
	fs.BoolVar(&c.Strict, "strict", false, "also fail on stale reads while no fault was active")
	fs.StringVar(&c.History, "history", "", "write every fault and operation to this file (JSON lines)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if faults == "" {
		c.DataFaults = true
		faults = strings.Join(slices.DeleteFunc(slices.Clone(faultKinds), func(k string) bool { return k == killAll }), ",")
	}
	for _, f := range strings.Split(faults, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !contains(faultKinds, f) {
			return c, fmt.Errorf("unknown fault %q (known: %s)", f, strings.Join(faultKinds, ", "))
		}
		c.Faults = append(c.Faults, f)
	}
	switch {
	case len(c.Faults) == 0:
		return c, errors.New("--faults lists no fault")
	case c.Clients < 1 || c.Rate <= 0:
		return c, errors.New("--clients and --rate must be positive")
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	return c, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Exit codes.
const (
	exitOK    = 0
	exitBad   = 1 // the history shows a loss, a resurrection, or the cluster never converged
	exitSetup = 2 // the run could not start or was interrupted
)

func realMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return exitSetup
	}
	// go-redis logs every refused dial; the history records them already.
	redis.SetLogger(quietLogger{})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	lg := log.New(stderr, "", log.Ltime|log.Lmicroseconds)
	code, err := runChaos(ctx, cfg, lg, stdout)
	if err != nil {
		lg.Printf("chaos: %v", err)
	}
	return code
}

// dial makes a client for one node: no retries (every attempt is recorded as it went),
// and a read timeout past the server's own 5 s command timeout.
func dial(addr string, pool int, readTimeout time.Duration) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, Protocol: 2, MaxRetries: -1, DialerRetries: 1, DisableIdentity: true,
		DialTimeout: time.Second, ReadTimeout: readTimeout, WriteTimeout: 2 * time.Second,
		PoolSize: pool, PoolTimeout: readTimeout + time.Second,
	})
}

func indexOf(cs []container, c *container) int {
	for i := range cs {
		if &cs[i] == c {
			return i
		}
	}
	return 0
}

func closeAll(cs []*redis.Client) {
	for _, c := range cs {
		c.Close()
	}
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// waitPing waits until a node answers PING.
func waitPing(ctx context.Context, c *redis.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no PONG after %v: %w", timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
