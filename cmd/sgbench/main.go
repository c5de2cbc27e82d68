// Command sgbench is a load generator for sessiongate, and for plain Redis doing the same
// work with native commands, so the two can be compared on the same machine.
//
//	sgbench --addr 127.0.0.1:6380 --workload read --conns 8 --pipeline 16 --duration 15s
//	sgbench --compare 127.0.0.1:6380,127.0.0.1:6379 --workload read
//
// It prints a progress line on stderr each second and, at the end, ops/s and latency
// percentiles per command (from HDR histograms) and errors by kind; --json prints the same
// figures as JSON on stdout.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config is one invocation's settings. The defaults are those of parseFlags.
type Config struct {
	Addrs    []string      // targets, HOST:PORT; default 127.0.0.1:6380
	Spread   string        // "all": connections round-robin over Addrs (default); "first": all to Addrs[0]
	Workload string        // start, read (default), lifecycle or extended
	Redis    bool          // speak native Redis commands instead of SESSIONGATE.*
	Compare  []string      // SG_ADDR, BASELINE_ADDR: run both back to back and compare
	Baseline string        // what the second --compare target is: redis (default) or sessiongate
	Rounds   int           // with Compare: alternate the two this many times; default 1
	Conns    int           // connections; default 8
	Pipeline int           // requests in flight per connection; default 1
	Payload  int           // bytes each PSET writes; default 100
	Duration time.Duration // how long to run; default 10s, or unlimited when only Ops is given
	Ops      int64         // stop after this many operations in all (0: no limit)
	Rate     float64       // open loop: requests per second over all connections (0: closed loop)
	Sessions int           // read workload: sessions created beforehand; default 10000
	// KeepSessions leaves the read workload's sessions in place after the run; by default
	// they are ended (DEL with --redis), so that repeated runs start from the same store size.
	KeepSessions bool
	Skew         float64       // read workload: Zipf exponent over those sessions; 0 (default) is uniform
	ReadRatio    float64       // read workload: share of PGET, the rest PSET; default 0.9
	SignKey      string        // default "sgbench-key"
	TTL          int64         // seconds every session lives; default 3600
	Seed         uint64        // seeds every random choice; default 1
	Timeout      time.Duration // connect timeout, and how long a reply may take; default 10s
	Password     string        // sent with AUTH on every connection when set
	JSON         bool          // print the result as JSON on stdout
	Pids         []int         // local server processes whose CPU time per operation to report
	TLS          *tls.Config   // for tls://HOST:PORT targets (--tls marks them all); nil when none
}

// Exit codes: 2 for bad flags, 1 for anything that stopped the run.
const (
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fi, _ := os.Stderr.Stat()
	tty := fi != nil && fi.Mode()&os.ModeCharDevice != 0
	code := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr, tty)
	stop()
	os.Exit(code)
}

// realMain is main without the process: it returns the exit code.
func realMain(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sgbench:", err)
		return exitUsage
	}
	if err := run(ctx, cfg, realClock{}, stdout, stderr, tty); err != nil {
		fmt.Fprintln(stderr, "sgbench:", err)
		return exitFail
	}
	return 0
}

// run does the runs cfg asks for and prints their figures.
func run(ctx context.Context, cfg *Config, clk clock, stdout, stderr io.Writer, tty bool) error {
	if cfg.Compare == nil {
		target := targetSessiongate
		if cfg.Redis {
			target = targetRedis
		}
		res, err := bench(ctx, cfg, target, cfg.Addrs, clk, stderr, tty)
		if err != nil {
			return err
		}
		if cfg.JSON {
			return writeJSON(stdout, res)
		}
		printResult(stdout, res)
		return nil
	}
	// Alternating the targets round by round spreads slow phases of a shared or virtual
	// machine over both; the median round is the figure to quote.
	var rounds []map[string]*Result
	var ratios []float64
	for i := 0; i < max(cfg.Rounds, 1); i++ {
		sg, err := bench(ctx, cfg, targetSessiongate, cfg.Compare[:1], clk, stderr, tty)
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted before the baseline run: %w", err)
		}
		rd, err := bench(ctx, cfg, cfg.Baseline, cfg.Compare[1:], clk, stderr, tty)
		if err != nil {
			return err
		}
		key := targetRedis
		if cfg.Baseline == targetSessiongate {
			key = "baseline"
		}
		rounds = append(rounds, map[string]*Result{targetSessiongate: sg, key: rd})
		if rd.OpsPerSec > 0 {
			ratios = append(ratios, sg.OpsPerSec/rd.OpsPerSec)
		}
		if !cfg.JSON {
			if cfg.Rounds > 1 {
				fmt.Fprintf(stdout, "round %d of %d\n", i+1, cfg.Rounds)
			}
			printCompare(stdout, sg, rd)
		}
		if err := ctx.Err(); err != nil {
			break
		}
	}
	if cfg.JSON {
		if len(rounds) == 1 {
			return writeJSON(stdout, rounds[0])
		}
		return writeJSON(stdout, map[string]any{"rounds": rounds, "ratios": ratios, "median_ratio": median(ratios)})
	}
	if len(rounds) > 1 {
		fmt.Fprintf(stdout, "ratios by round: %s; median %.2f\n", formatRatios(ratios), median(ratios))
	}
	return nil
}

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func formatRatios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, " ")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// passwordEnv holds the AUTH password, so that it need not appear in the process list.
const passwordEnv = "SGBENCH_PASSWORD"

// parseFlags reads the command line into a validated Config.
func parseFlags(args []string, stderr io.Writer) (*Config, error) {
	cfg := &Config{}
	var addrs, compare, pids string
	var tf tlsFlags
	fs := flag.NewFlagSet("sgbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&addrs, "addr", "127.0.0.1:6380", "comma-separated target addresses HOST:PORT")
	fs.StringVar(&cfg.Spread, "spread", "all", "all: connections round-robin over --addr; first: every connection to the first")
	fs.StringVar(&cfg.Workload, "workload", workloadRead, "start, read, lifecycle or extended")
	fs.BoolVar(&cfg.Redis, "redis", false, "target plain Redis with native commands (a hash per session)")
	fs.StringVar(&compare, "compare", "", "SG_ADDR,BASELINE_ADDR: run sessiongate then the baseline (Redis unless --baseline), print both side by side")
	fs.StringVar(&cfg.Baseline, "baseline", targetRedis, "with --compare: what BASELINE_ADDR is, redis or sessiongate (another node or build)")
	fs.IntVar(&cfg.Rounds, "rounds", 1, "with --compare: alternate the two targets this many times and print the median ratio")
	fs.IntVar(&cfg.Conns, "conns", 8, "connections")
	fs.IntVar(&cfg.Pipeline, "pipeline", 1, "requests in flight per connection")
	fs.IntVar(&cfg.Payload, "payload", 100, "bytes each PSET writes")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to run (default 10s unless --ops is given)")
	fs.Int64Var(&cfg.Ops, "ops", 0, "stop after this many operations in all (0: run for --duration)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: requests per second over all connections, latency from the scheduled time (0: closed loop)")
	fs.IntVar(&cfg.Sessions, "sessions", 10000, "read workload: sessions created beforehand")
	fs.BoolVar(&cfg.KeepSessions, "keep-sessions", false, "read workload: leave the sessions made beforehand in place after the run (default: end them)")
	fs.Float64Var(&cfg.Skew, "skew", 0, "read workload: Zipf exponent over the sessions (0: uniform)")
	fs.Float64Var(&cfg.ReadRatio, "read-ratio", 0.9, "read workload: share of PGET (the rest is PSET)")
	fs.StringVar(&cfg.SignKey, "sign-key", "sgbench-key", "sign key (tenant) of the sessions")
	fs.Int64Var(&cfg.TTL, "ttl", 3600, "seconds each session lives")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of every random choice")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "connect timeout, and how long a reply may take")
	fs.StringVar(&cfg.Password, "password", "", "AUTH password (empty: none); "+passwordEnv+" keeps it off the command line")
	fs.BoolVar(&cfg.JSON, "json", false, "print the result as JSON on stdout")
	tf.register(fs)
	fs.StringVar(&pids, "server-pids", "", "comma-separated ids of server processes on this machine: report their CPU time per operation (Linux)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if p, ok := os.LookupEnv(passwordEnv); ok && !set["password"] {
		cfg.Password = p
	}
	if cfg.Ops > 0 && !set["duration"] {
		cfg.Duration = 0
	}
	if compare != "" {
		if set["addr"] || set["redis"] {
			return nil, errors.New("--compare names both targets: drop --addr and --redis")
		}
		cfg.Compare = splitList(compare)
		if len(cfg.Compare) != 2 {
			return nil, fmt.Errorf("--compare wants SG_ADDR,BASELINE_ADDR, not %q", compare)
		}
		addrs = compare
	}
	cfg.Addrs = splitList(addrs)
	tf.mark(cfg.Addrs)
	tf.mark(cfg.Compare)
	var err error
	if cfg.TLS, err = tf.config(cfg.Addrs); err != nil {
		return nil, err
	}
	for _, p := range splitList(pids) {
		pid, err := strconv.Atoi(p)
		if err != nil || pid < 1 {
			return nil, fmt.Errorf("--server-pids: %q is not a process id", p)
		}
		cfg.Pids = append(cfg.Pids, pid)
	}
	return cfg, cfg.validate()
}

const usageText = `Usage: sgbench [flags]

Workloads:
  start      SESSIONGATE.START only
  read       PGET and PSET (--read-ratio) of one payload over --sessions sessions made
             beforehand, chosen uniformly or with Zipf skew --skew; they are ended after
             the run unless --keep-sessions
  lifecycle  per session: START, 3 PSET, 12 PGET, EXPIRE, END
  extended   per owner: CREATE (OWNER, IDLE), INFO, PUPDATE, PGETALL, ROTATE, LIST, ENDOWNER

With --redis the same operations use native commands on a hash per session:
START = HSET+EXPIRE, PSET = HSET, PGET = HGET, EXPIRE = EXPIRE, END = DEL, and for the
extended family a set per owner (CREATE = HSET+EXPIRE+SADD, INFO = HMGET, PUPDATE =
HSET+HDEL, PGETALL = HGETALL, ROTATE = RENAME+SREM+SADD, LIST = SMEMBERS, ENDOWNER = DEL).
An operation of several commands is pipelined, timed and counted as one.

--compare SG,BASELINE alternates two targets (--rounds) and prints the median throughput
ratio: BASELINE is a Redis server, or with --baseline sessiongate another sessiongate
target (a lone node against a cluster's entry node, or an older build).

TLS: --tls dials every target over TLS; tls://HOST:PORT marks one target, so that
--compare 127.0.0.1:6380,tls://127.0.0.1:6390 --baseline sessiongate measures what TLS costs.
--cacert, --cert and --key are PEM files (as redis-cli's).

Flags:
`

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// validate says what is wrong with cfg, naming the flag.
func (cfg *Config) validate() error {
	if len(cfg.Addrs) == 0 {
		return errors.New("--addr is empty")
	}
	for _, a := range cfg.Addrs {
		a, _ := splitTLS(a)
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("address %q: %w", a, err)
		}
	}
	switch {
	case cfg.Spread != "all" && cfg.Spread != "first":
		return fmt.Errorf("--spread must be all or first, not %q", cfg.Spread)
	case !validWorkload(cfg.Workload):
		return fmt.Errorf("--workload must be start, read, lifecycle or extended, not %q", cfg.Workload)
	case cfg.Baseline != targetRedis && cfg.Baseline != targetSessiongate:
		return fmt.Errorf("--baseline must be redis or sessiongate, not %q", cfg.Baseline)
	case cfg.Baseline != targetRedis && cfg.Compare == nil:
		return errors.New("--baseline needs --compare")
	case cfg.Rounds < 1 || cfg.Rounds > 100:
		return fmt.Errorf("--rounds must be 1..100, not %d", cfg.Rounds)
	case cfg.Rounds > 1 && cfg.Compare == nil:
		return errors.New("--rounds needs --compare")
	case cfg.Conns < 1 || cfg.Conns > 10000:
		return fmt.Errorf("--conns must be 1..10000, not %d", cfg.Conns)
	case cfg.Pipeline < 1 || cfg.Pipeline > 10000:
		return fmt.Errorf("--pipeline must be 1..10000, not %d", cfg.Pipeline)
	case cfg.Payload < 1 || cfg.Payload > 8000000:
		return fmt.Errorf("--payload must be 1..8000000 bytes, not %d", cfg.Payload)
	case cfg.Duration < 0:
		return fmt.Errorf("--duration must not be negative, not %s", cfg.Duration)
	case cfg.Ops < 0:
		return fmt.Errorf("--ops must not be negative, not %d", cfg.Ops)
	case cfg.Duration == 0 && cfg.Ops == 0:
		return errors.New("give --duration or --ops, or the run would never stop")
	case math.IsNaN(cfg.Rate) || cfg.Rate < 0 || cfg.Rate > 1e8:
		return fmt.Errorf("--rate must be 0..1e8 requests per second, not %g", cfg.Rate)
	case cfg.Rate > 0 && cfg.Rate < float64(cfg.Conns)/3600:
		return fmt.Errorf("--rate %g is below one request per connection per hour", cfg.Rate)
	case cfg.Sessions < 1 || cfg.Sessions > 50_000_000:
		return fmt.Errorf("--sessions must be 1..50000000, not %d", cfg.Sessions)
	case math.IsNaN(cfg.Skew) || math.IsInf(cfg.Skew, 0) || cfg.Skew < 0:
		return fmt.Errorf("--skew must be 0 or more, not %g", cfg.Skew)
	case math.IsNaN(cfg.ReadRatio) || cfg.ReadRatio < 0 || cfg.ReadRatio > 1:
		return fmt.Errorf("--read-ratio must be 0..1, not %g", cfg.ReadRatio)
	case cfg.SignKey == "":
		return errors.New("--sign-key must not be empty")
	case cfg.TTL < 1 || cfg.TTL > 3153600000:
		return fmt.Errorf("--ttl must be 1..3153600000 seconds, not %d", cfg.TTL)
	case cfg.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive, not %s", cfg.Timeout)
	case len(cfg.Pids) > 0 && cfg.Compare != nil:
		return errors.New("--server-pids measures one target: not with --compare")
	}
	return nil
}

func validWorkload(w string) bool {
	switch w {
	case workloadStart, workloadRead, workloadLifecycle, workloadExtended:
		return true
	}
	return false
}
