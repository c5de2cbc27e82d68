// Package node is one sessiongate node: the local store, its expiry loop, and (in a cluster)
// membership, the partition ring, forwarding and replication. Front ends call Do; the node
// decides whether a command runs here or on the partition's primary.
package node

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/disk"
	"github.com/sessiongate/sessiongate/sessions"
)

// Config configures a node. The zero value runs one node alone.
type Config struct {
	// Store configures the local session store.
	Store sessions.Config
	// SweepInterval is how often a tenth of the store is scanned for expired sessions, so each
	// session is examined once every ten intervals. Default 100ms.
	SweepInterval time.Duration
	// Cluster, when non-nil, makes the node a cluster member.
	Cluster *ClusterConfig
	// Logger receives membership, hand-off and repair events. Default slog.Default().
	Logger *slog.Logger
	// Disk, if set, keeps the store in a data directory across restarts (package disk).
	// Default: memory only.
	Disk *disk.Config
}

// Node is one running node.
type Node struct {
	cfg    Config
	log    *slog.Logger
	store  *sessions.Store
	disk   *disk.Disk // nil: memory only
	loaded disk.Loaded
	// staleUntil and deciding: see keepStale.
	staleUntil atomic.Int64
	deciding   atomic.Bool

	stats api.Stats

	cluster *cluster // nil when alone

	// life is the node's lifetime: every background task derives from it, and Shutdown
	// cancels it.
	life     context.Context
	end      context.CancelFunc
	wg       sync.WaitGroup
	shutOnce sync.Once
}

// Create starts a node: its store and expiry loop, and in a cluster its replication listener
// and membership. It does not join other nodes; see Join.
func Create(cfg Config) (*Node, error) {
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Node{cfg: cfg, log: cfg.Logger}
	if err := n.openStore(); err != nil {
		return nil, err
	}
	n.life, n.end = context.WithCancel(context.Background())
	if cfg.Cluster != nil {
		c, err := newCluster(n, *cfg.Cluster)
		if err != nil {
			n.end()
			if n.disk != nil {
				n.disk.Close()
			}
			return nil, err
		}
		n.cluster = c
	}
	n.every(cfg.SweepInterval, n.sweep)
	return n, nil
}

// Store exposes the local store (for INFO and tests).
func (n *Node) Store() *sessions.Store { return n.store }

// Stats exposes the node's counters.
func (n *Node) Stats() *api.Stats { return &n.stats }

// Counters is a snapshot of the node's counters.
func (n *Node) Counters() api.Counters { return n.stats.Snapshot() }

// StoreStats is a snapshot of the local store's sizes.
func (n *Node) StoreStats() sessions.Stats { return n.store.Stats() }

// Do runs a command wherever it must run and returns its result once the write-acks policy
// is met.
func (n *Node) Do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	if n.life.Err() != nil {
		return sessions.Result{}, api.ErrClosed
	}
	if n.cluster != nil {
		return n.cluster.do(ctx, cmd)
	}
	if err := n.diskRefuses(cmd); err != nil {
		return sessions.Result{}, err
	}
	n.stats.Commands.Add(1)
	res, err := n.store.Do(cmd)
	if len(res.Ops) > 0 {
		if derr := n.durable(ctx); derr != nil {
			return sessions.Result{}, derr
		}
	}
	return res, err
}

// sweep ends a tenth of the store's idle and expired sessions (256 shards, 26 a tick); in a
// cluster, only those of partitions this node is primary of, whose ends it replicates.
func (n *Node) sweep() {
	var primaryFor sessions.SweepFunc
	if n.cluster != nil {
		primaryFor = n.cluster.isPrimaryForSlot
	}
	expired, ops := n.store.Sweep(26, primaryFor)
	n.stats.Expired.Add(uint64(expired))
	if len(ops) > 0 && n.cluster != nil {
		n.cluster.replicateBackground(ops)
	}
}

// every runs fn every d until the node stops. Each background duty gets its own clock, so a
// slow anti-entropy round cannot delay a drop or a re-join.
func (n *Node) every(d time.Duration, fn func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-n.life.Done():
				return
			case <-t.C:
			}
			fn()
		}
	}()
}

// Shutdown stops the node at once, without handing anything off (see Leave for that).
func (n *Node) Shutdown() error {
	var err error
	n.shutOnce.Do(func() {
		n.end()
		n.wg.Wait()
		if n.cluster != nil {
			err = n.cluster.shutdown()
		}
		if n.disk != nil {
			if derr := n.disk.Close(); err == nil {
				err = derr
			}
		}
	})
	return err
}

// Leave hands this node's data to the partitions' next owners and leaves the cluster
// gracefully. Alone, it does nothing.
func (n *Node) Leave(ctx context.Context) error {
	if n.cluster == nil {
		return nil
	}
	return n.cluster.leave(ctx)
}
