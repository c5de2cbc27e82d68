// Command sessiongated runs one sessiongate node. With no flags it serves RESP on
// 127.0.0.1:6380 alone; with --cluster-addr it joins a cluster. Every flag has an
// environment variable (SESSIONGATE_ plus the flag name in upper snake case).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/api/resp"
	"github.com/sessiongate/sessiongate/membership"
	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/quorum"
	"github.com/sessiongate/sessiongate/sessions"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

type options struct {
	addr, requirepass, logLevel                     string
	maxClients                                      int
	idleTimeout, tombstoneTTL                       time.Duration
	maxMemory                                       byteSize // maxmemory.go
	clusterAddr, advertise, replAddr, replAdvertise string
	join, nodeName, writeAcks, gossipProf           string
	security                                        clusterSecurity
	secretFiles                                     secretFiles
	httpAddr, httpApps, pprofAddr                   string
	replicas, partitions                            int
	rejoinInterval, antiEntropy                     time.Duration
	readLease, replicaReadDelay, clockSkew          time.Duration
	// rest holds the HTTP front end's flags beyond --http-addr and --http-apps (rest_flags.go).
	rest restFlags
	// tls holds the flags of TLS towards clients (tls_flags.go).
	tls clientTLS
	// data holds the data directory's flags (data_flags.go).
	data dataFlags
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sessiongated:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("sessiongated", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:6380", "RESP listen address HOST:PORT (off: no plain RESP, with --tls-addr)")
	o.tls.register(fs)
	fs.StringVar(&o.requirepass, "requirepass", "", "password clients must AUTH with (empty: none)")
	o.secretFiles.register(fs)
	fs.IntVar(&o.maxClients, "maxclients", 10000, "maximum client connections")
	fs.DurationVar(&o.idleTimeout, "timeout", 5*time.Minute, "close client connections idle this long (0: never)")
	fs.DurationVar(&o.tombstoneTTL, "tombstone-ttl", 10*time.Minute, "how long ended ids are remembered past their deadline")
	o.data.register(fs)
	fs.Var(&o.maxMemory, "maxmemory", "used memory past which writes that grow the store get -OOM, as 100mb or 2gb (0: no limit)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.httpAddr, "http-addr", "", "HTTP address for the REST API, /metrics, /healthz, /readyz and the status page (empty: off)")
	fs.StringVar(&o.httpApps, "http-apps", "", "REST apps and their sign keys: app=key[,app=key...]")
	o.rest.register(fs)
	fs.StringVar(&o.pprofAddr, "pprof-addr", "", "address for Go's /debug/pprof profiles (empty: off; keep it private)")
	fs.StringVar(&o.clusterAddr, "cluster-addr", "", "gossip address HOST:PORT; empty runs alone")
	fs.StringVar(&o.advertise, "advertise", "", "gossip address peers use (default --cluster-addr)")
	fs.StringVar(&o.replAddr, "repl-addr", "", "replication listen address (default cluster port + 1)")
	fs.StringVar(&o.replAdvertise, "repl-advertise", "", "replication address peers use (default advertise host, repl port)")
	fs.StringVar(&o.join, "join", "", "comma-separated seed gossip addresses")
	fs.StringVar(&o.nodeName, "node-name", "", "stable node id (default the hostname)")
	fs.IntVar(&o.replicas, "replicas", 3, "copies of each session, capped at the member count")
	fs.IntVar(&o.partitions, "partitions", 256, "partitions, 1..3844, fixed for the cluster's life")
	fs.StringVar(&o.writeAcks, "write-acks", "majority", "one, majority or all")
	o.security.register(fs)
	fs.StringVar(&o.gossipProf, "gossip-profile", "lan", "failure-detection timers: lan (memberlist's defaults, ~5-10s to declare a node dead) or fast (~1-2s, for tests and quiet networks)")
	fs.DurationVar(&o.rejoinInterval, "rejoin-interval", 5*time.Second, "how often known peers that are not members are re-joined")
	fs.DurationVar(&o.antiEntropy, "anti-entropy-interval", 10*time.Second, "how often replicas compare digests")
	fs.DurationVar(&o.readLease, "read-lease", time.Second, "how long a backup may answer reads from its copy once its primary vouched for it; writes wait up to this long for a backup that stops answering (0: backups never answer reads)")
	fs.DurationVar(&o.replicaReadDelay, "replica-read-delay", 2*time.Minute, "after a view change, how long backups wait before answering reads from their copies (0: the default)")
	fs.DurationVar(&o.clockSkew, "clock-skew", 100*time.Millisecond, "how far apart the nodes' clocks may be: a forwarded command reaching its primary more than this after its sender gave up is refused, not run (0: the default; negative: never refused)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sessiongated [flags]\n       sessiongated cert [flags]   (development TLS certificates; cert --help)\n\nEvery flag can also be set with an environment variable:\n")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(stderr, "  --%s (%s, default %q)\n    \t%s\n", f.Name, envName(f.Name), f.DefValue, f.Usage)
		})
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && !set[f.Name] && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return o, envErr
	}
	return o, o.secretFiles.apply(o)
}

// parseApps reads "app=key,app=key".
func parseApps(s string) (map[string][]byte, error) {
	apps := map[string][]byte{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, key, ok := strings.Cut(part, "=")
		if !ok || name == "" || key == "" {
			return nil, fmt.Errorf("--http-apps: %q is not app=key", part)
		}
		apps[name] = []byte(key)
	}
	return apps, nil
}

func envName(flagName string) string {
	return "SESSIONGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func run(args []string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "cert" {
		return runCert(args[1:], os.Stdout, stderr)
	}
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if o.maxClients, err = clampMaxClients(o.maxClients, fileLimit(), log); err != nil {
		return err
	}

	ncfg := node.Config{Store: sessions.Config{TombstoneTTL: o.tombstoneTTL, MaxMemory: int64(o.maxMemory)}, Logger: log}
	if ncfg.Disk, err = o.data.config(); err != nil {
		return err
	}
	if o.clusterAddr != "" {
		acks, err := quorum.ParseAcks(o.writeAcks)
		if err != nil {
			return err
		}
		if o.partitions < 1 || o.partitions > sessions.Slots {
			return fmt.Errorf("--partitions must be 1..%d", sessions.Slots)
		}
		var seeds []string
		for _, s := range strings.Split(o.join, ",") {
			if s = strings.TrimSpace(s); s != "" {
				seeds = append(seeds, s)
			}
		}
		ncfg.Cluster = &node.ClusterConfig{
			Name: o.nodeName, BindAddr: o.clusterAddr, Advertise: o.advertise,
			ReplAddr: o.replAddr, ReplAdvertise: o.replAdvertise, RESPAddr: advertised(o.addr, &o.tls),
			Join: seeds, Replicas: o.replicas, Partitions: o.partitions, WriteAcks: acks,
			RejoinInterval:      o.rejoinInterval,
			AntiEntropyInterval: o.antiEntropy, ReadLease: o.readLease, ReplicaReadDelay: o.replicaReadDelay,
			ClockSkew: o.clockSkew,
		}
		if err := o.security.apply(ncfg.Cluster); err != nil {
			return err
		}
		if o.readLease <= 0 {
			ncfg.Cluster.ReadLease = -1 // off: every read goes to the primary
		}
		switch o.gossipProf {
		case "lan":
		case "fast":
			ncfg.Cluster.Memberlist = membership.FastGossip
		default:
			return fmt.Errorf("--gossip-profile must be lan or fast, not %q", o.gossipProf)
		}
	}
	ln, err := openListeners(o.addr, &o.tls, log)
	if err != nil {
		return err
	}
	n, err := node.Create(ncfg)
	if err != nil {
		ln.Close()
		return err
	}
	if err := n.Join(context.Background()); err != nil {
		n.Shutdown()
		ln.Close()
		return err
	}
	if o.pprofAddr != "" {
		pln, err := net.Listen("tcp", o.pprofAddr)
		if err != nil {
			n.Shutdown()
			return err
		}
		defer pln.Close()
		go servePprof(pln)
		log.Info("pprof ready", "addr", pln.Addr().String())
	}
	m, backend := instrument(o, n)
	serveErr := make(chan error, 4)
	web, err := startHTTP(o, n, m, backend, log, serveErr)
	if err != nil {
		n.Shutdown()
		return err
	}
	srv := resp.NewServer(resp.Config{
		Addr: o.addr, RequirePass: o.requirepass, MaxConns: o.maxClients, IdleTimeout: o.idleTimeout,
		Logger: log, Sections: func() []api.Section { return api.Sections(n) }, Cluster: n.ClusterView, Locate: n.Locate, Version: version,
	}, backend)
	ln.serve(srv, serveErr)
	log.Info("sessiongated ready", "addr", ln.String(), "version", version, "cluster", o.clusterAddr != "")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case err := <-serveErr:
		n.Shutdown()
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Hand partitions off while still answering clients (the node forwards once it has
	// left the ring), then stop taking commands.
	if err := n.Leave(ctx); err != nil {
		log.Warn("leave", "err", err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("client shutdown", "err", err)
	}
	if web != nil {
		web.Shutdown(ctx)
	}
	return n.Shutdown()
}
