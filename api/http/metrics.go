package httpapi

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
)

// Backend is what the REST front end calls: api.Backend's Do.
type Backend interface {
	Do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error)
}

// Metrics holds the node's Prometheus collectors.
type Metrics struct {
	Registry *prometheus.Registry
	commands *prometheus.CounterVec
	errs     *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// byKind holds each known kind's counter and histogram, indexed by kind: looked up by
	// label once, not on every command (a lookup hashes the label and takes a read lock
	// shared by every connection).
	byKind []kindMetrics
}

// kindMetrics are one kind's command counter and latency histogram.
type kindMetrics struct {
	commands prometheus.Counter
	latency  prometheus.Observer
}

// NewMetrics registers the command metrics and the node's own counters and gauges.
func NewMetrics(n api.Node) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiongate_commands_total", Help: "Session commands received, by command.",
		}, []string{"command"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiongate_command_errors_total", Help: "Session commands that failed, by command and kind of error.",
		}, []string{"command", "error"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sessiongate_command_duration_seconds", Help: "Command latency through this node, forwarding and replication included.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}, []string{"command"}),
	}
	reg.MustRegister(m.commands, m.errs, m.latency)
	for _, k := range sessions.Kinds() {
		m.byKind = slices.Grow(m.byKind, int(k)+1)[:int(k)+1]
		m.byKind[k] = kindMetrics{commands: m.commands.WithLabelValues(k.String()), latency: m.latency.WithLabelValues(k.String())}
	}
	counter := func(name, help string, f func() uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) }))
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	counter("sessiongate_forwarded_total", "Commands forwarded to another node's primary.", func() uint64 { return n.Counters().Forwarded })
	counter("sessiongate_copy_reads_total", "Reads this node answered from its copy as a backup holding a read lease.", func() uint64 { return n.Counters().CopyReads })
	counter("sessiongate_forward_batches_total", "Messages that carried several forwarded commands of a pipeline at once.", func() uint64 { return n.Counters().Batches })
	counter("sessiongate_replicated_ops_total", "Ops sent to backups.", func() uint64 { return n.Counters().Replicated })
	counter("sessiongate_replication_failures_total", "Op copies a backup did not acknowledge.", func() uint64 { return n.Counters().ReplFailed })
	counter("sessiongate_applied_ops_total", "Ops received from other nodes and merged.", func() uint64 { return n.Counters().Applied })
	counter("sessiongate_carried_ops_total", "Ops merged from the answers to writes this node forwarded as a backup.", func() uint64 { return n.Counters().Carried })
	counter("sessiongate_grouped_writes_total", "Writes replicated together with others of their pipeline (one copy per backup for the group).", func() uint64 { return n.Counters().Grouped })
	counter("sessiongate_inline_writes_total", "Forwarded writes run on the replication connection's reader instead of a worker.", func() uint64 { return n.Counters().InlineWrites })
	counter("sessiongate_inline_waits_total", "Forwarded calls run inline whose answers then waited for acknowledgements.", func() uint64 { return n.Counters().InlineWaits })
	counter("sessiongate_expired_sessions_total", "Sessions freed by the expiry sweep.", func() uint64 { return n.Counters().Expired })
	gauge("sessiongate_sessions", "Live sessions held by this node (as primary or backup).", func() float64 {
		return float64(n.StoreStats().Sessions)
	})
	gauge("sessiongate_tombstones", "Ended or expired ids remembered by this node.", func() float64 {
		return float64(n.StoreStats().Tombstones)
	})
	gauge("sessiongate_stored_bytes", "Bytes of owners, metadata and payloads held.", func() float64 {
		return float64(n.StoreStats().BlobBytes)
	})
	gauge("sessiongate_used_memory_bytes", "Memory the store counts against --maxmemory: stored bytes plus a fixed cost per session and tombstone.", func() float64 {
		return float64(n.StoreStats().UsedMemory)
	})
	gauge("sessiongate_maxmemory_bytes", "The --maxmemory limit; 0 means none.", func() float64 {
		return float64(n.StoreStats().MaxMemory)
	})
	view := func(f func(v *api.ClusterView) float64) func() float64 {
		return func() float64 {
			if v := n.ClusterView(); v != nil {
				return f(v)
			}
			return 0
		}
	}
	gauge("sessiongate_partitions_primary", "Partitions this node is primary for.", view(func(v *api.ClusterView) float64 {
		c := 0
		for _, p := range v.Partitions {
			if p.Replicas[0] == v.Self {
				c++
			}
		}
		return float64(c)
	}))
	gauge("sessiongate_partitions_under_replicated", "Partitions without a full, synced replica set, as this node sees them.", view(func(v *api.ClusterView) float64 {
		c := 0
		for _, p := range v.Partitions {
			if p.UnderReplicated {
				c++
			}
		}
		return float64(c)
	}))
	gauge("sessiongate_handoffs_in_progress", "Partition syncs under way on this node.", view(func(v *api.ClusterView) float64 {
		return float64(v.SyncsInProgress)
	}))
	gauge("sessiongate_last_handoff_seconds", "How long the last round of partition syncs took.", view(func(v *api.ClusterView) float64 {
		return float64(v.LastSyncMs) / 1000
	}))
	counter("sessiongate_repairs_total", "Slots repaired by anti-entropy and sessions by read repair.", func() uint64 {
		if v := n.ClusterView(); v != nil {
			return v.Repairs
		}
		return 0
	})
	reg.MustRegister(membersCollector{n: n, desc: prometheus.NewDesc("sessiongate_members",
		"Cluster members by state, as this node sees them.", []string{"state"}, nil)})
	if n.Persistence() != nil {
		registerDisk(reg, n)
	}
	return m
}

// registerDisk registers the metrics of a node's data directory.
func registerDisk(reg *prometheus.Registry, n api.Node) {
	counter := func(name, help string, f func(p *api.Persistence) float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(n.Persistence()) }))
	}
	gauge := func(name, help string, f func(p *api.Persistence) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(n.Persistence()) }))
	}
	counter("sessiongate_disk_log_records_total", "Records appended to the data directory's log.", func(p *api.Persistence) float64 { return float64(p.LogRecords) })
	counter("sessiongate_disk_log_bytes_total", "Bytes written to the log.", func(p *api.Persistence) float64 { return float64(p.LogBytes) })
	counter("sessiongate_disk_log_writes_total", "Write calls to the log, each carrying every record appended since the last.", func(p *api.Persistence) float64 { return float64(p.LogWrites) })
	counter("sessiongate_disk_fsyncs_total", "Fsyncs of the log.", func(p *api.Persistence) float64 { return float64(p.Fsyncs) })
	counter("sessiongate_disk_fsync_seconds_total", "Time spent in fsyncs of the log.", func(p *api.Persistence) float64 { return p.FsyncTime.Seconds() })
	counter("sessiongate_disk_snapshots_total", "Snapshots written since the node started.", func(p *api.Persistence) float64 { return float64(p.Snapshots) })
	gauge("sessiongate_disk_last_snapshot_timestamp_seconds", "When the last snapshot was done (unix time); 0 if none since the node started.", func(p *api.Persistence) float64 {
		if p.LastSnapshot.IsZero() {
			return 0
		}
		return float64(p.LastSnapshot.UnixMilli()) / 1000
	})
	gauge("sessiongate_disk_writes_refused", "1 while the data directory cannot be written and writes are refused.", func(p *api.Persistence) float64 {
		if p.Refused != "" {
			return 1
		}
		return 0
	})
}

// membersCollector counts members by state at scrape time.
type membersCollector struct {
	n    api.Node
	desc *prometheus.Desc
}

func (c membersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c membersCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{"alive": 0, "suspect": 0}
	if v := c.n.ClusterView(); v != nil {
		for _, mb := range v.Members {
			counts[mb.State]++
		}
	} else {
		counts["alive"] = 1
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), state)
	}
}

// Instrument wraps a backend so every command is counted and timed.
func (m *Metrics) Instrument(b api.Backend) api.Backend { return instrumented{b, m} }

type instrumented struct {
	b api.Backend
	m *Metrics
}

func (i instrumented) Do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	start := time.Now()
	res, err := i.b.Do(ctx, cmd)
	i.m.count(cmd.Kind, time.Since(start).Seconds(), err)
	return res, err
}

// DoBatch counts and times each command of a batch, each with the batch's latency.
func (i instrumented) DoBatch(ctx context.Context, cmds []*sessions.Command, out []api.Outcome) {
	start := time.Now()
	i.b.DoBatch(ctx, cmds, out)
	took := time.Since(start).Seconds()
	for j, cmd := range cmds {
		i.m.count(cmd.Kind, took, out[j].Err)
	}
}

// count records one command of kind k that took secs and failed with err (nil: succeeded).
func (m *Metrics) count(k sessions.Kind, secs float64, err error) {
	var km kindMetrics
	if int(k) < len(m.byKind) {
		km = m.byKind[k]
	}
	if km.commands == nil { // a kind the table does not know
		km = kindMetrics{commands: m.commands.WithLabelValues(k.String()), latency: m.latency.WithLabelValues(k.String())}
	}
	km.latency.Observe(secs)
	km.commands.Inc()
	if err != nil {
		m.errs.WithLabelValues(k.String(), errorKind(err)).Inc()
	}
}

func errorKind(err error) string {
	var se *sessions.Error
	switch {
	case errors.As(err, &se):
		return "client" // a refusal the client caused: no session, bad payload, limit
	case errors.Is(err, api.ErrTryAgain):
		return "tryagain"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "other"
}
