package node

import (
	"context"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/disk"
	"github.com/sessiongate/sessiongate/membership"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
)

// With a data directory (package disk), a write counts this node's copy only once the
// directory's fsync policy says it is durable: a primary's through its flight
// (replica.Config.Local), a backup's before it acknowledges the copy (handler.Apply), a
// carrier's before it answers its client (applyCarried), a lone node's before it answers.
// While the directory cannot be written, writes are refused before they run and reads go on.

// openStore makes the node's store: empty, or loaded from its data directory.
func (n *Node) openStore() error {
	if n.cfg.Disk == nil {
		n.store = sessions.New(n.cfg.Store)
		return nil
	}
	cfg := *n.cfg.Disk
	if cfg.Logger == nil {
		cfg.Logger = n.log
	}
	d, s, loaded, err := disk.Open(cfg, n.cfg.Store)
	if err != nil {
		return err
	}
	n.disk, n.store, n.loaded = d, s, loaded
	if ttl := s.TombstoneTTL(); !loaded.LastAlive.IsZero() && time.Since(loaded.LastAlive) > ttl {
		// Its tombstones are re-armed for a TTL from now, so it forgets none before then.
		n.staleUntil.Store(time.Now().Add(ttl).UnixMilli())
		n.deciding.Store(n.cfg.Cluster != nil && len(n.cfg.Cluster.Join) > 0)
		n.log.Warn("data directory: the node was away longer than the tombstone TTL", "last_alive", loaded.LastAlive, "tombstone_ttl", ttl)
	}
	n.log.Info("data directory loaded", "dir", cfg.Dir, "fsync", cfg.Sync.String(), "sessions", loaded.Sessions,
		"records", loaded.Records, "snapshot", loaded.Snapshot != "", "last_alive", loaded.LastAlive, "took", loaded.Took)
	return nil
}

// Loaded is what the node loaded from its data directory; ok is false without one.
func (n *Node) Loaded() (l disk.Loaded, ok bool) { return n.loaded, n.disk != nil }

// diskRefuses returns why cmd may not run now: it writes, and writes cannot be kept.
func (n *Node) diskRefuses(cmd *sessions.Command) error {
	if n.disk == nil || !cmd.Kind.Traits().Write {
		return nil
	}
	return n.disk.Err()
}

// durable returns once every change taken so far is durable, or why it cannot be.
func (n *Node) durable(ctx context.Context) error {
	if n.disk == nil {
		return nil
	}
	return n.disk.Wait(ctx)
}

// applyCopy merges ops a peer sent and returns the answer to give it: nil, or (under fsync
// always) a Deferred that gives it once they are on disk. A directory that cannot be written
// refuses them.
func (n *Node) applyCopy(ops []sessions.Op) (any, error) {
	if err := n.starting(); err != nil {
		return nil, err
	}
	if n.disk != nil {
		if err := n.disk.Err(); err != nil {
			return nil, err
		}
	}
	n.store.ApplyAll(ops)
	n.stats.Applied.Add(uint64(len(ops)))
	if n.disk == nil || !n.disk.Waits() {
		return nil, nil
	}
	return replication.Deferred(func(answer func(any, error)) {
		n.disk.WhenDurable(func(err error) { answer(nil, err) })
	}), nil
}

// whenDurable is replica.Config.Local: nil unless the disk is waited for.
func (n *Node) whenDurable() func(func(error)) {
	if n.disk == nil || !n.disk.Waits() {
		return nil
	}
	return n.disk.WhenDurable
}

// A node away longer than the tombstone TTL may hold sessions that were ended meanwhile and
// whose tombstones the others have since forgotten: merged back, they would live again. So
// such a node keeps its data only if no member has kept running meanwhile: after a
// full-cluster restart every member is as stale as it is, and their tombstones were re-armed
// on loading. A stale member counts as stale for a TTL after its start (StaleUntil), during
// which it forgets no tombstone; a member that is not stale may have forgotten some.

// keepStale reports whether a node with stale data keeps it among members, at now (unix ms).
func keepStale(members []membership.Member, self string, now int64) bool {
	for _, m := range members {
		if m.Name != self && m.StaleUntil <= now {
			return false
		}
	}
	return true
}

// settleStaleData decides, once the node has joined, whether it keeps its stale data: until
// then it shares none of it and takes no copies (starting).
func (c *cluster) settleStaleData() {
	n := c.n
	if !n.deciding.Load() {
		return
	}
	if !keepStale(c.ml.Members(), c.cfg.Name, time.Now().UnixMilli()) {
		held := n.store.Stats().Sessions
		for slot := range sessions.Slots {
			n.store.DropSlot(slot)
		}
		n.staleUntil.Store(0)
		if err := c.ml.UpdateMeta(time.Second); err != nil {
			c.log.Warn("gossiping fresh metadata", "err", err)
		}
		c.log.Warn("data directory: discarded stale data, as the cluster kept running meanwhile; the others' copies will be pulled", "sessions", held)
	} else {
		c.log.Info("data directory: keeping stale data: every member is as stale (a full-cluster restart)")
	}
	n.deciding.Store(false)
}

// awaitPeer waits, when the node restarted on data from its directory and no seed answered
// yet, until a peer is a member or RestartWait passed. In a full-cluster restart the others
// are starting too: alone, the node would answer "no such session" for every session it holds
// no copy of. Clients are not served meanwhile (Join returns first).
func (c *cluster) awaitPeer(ctx context.Context) error {
	if c.n.disk == nil || c.n.loaded.LastAlive.IsZero() || len(c.ml.Members()) > 0 {
		return nil
	}
	c.log.Info("data directory loaded: waiting for a peer before serving", "seeds", c.cfg.Join, "up_to", c.cfg.RestartWait)
	deadline := time.NewTimer(c.cfg.RestartWait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for len(c.ml.Members()) == 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			c.log.Warn("no peer answered: serving alone with this node's copies only", "waited", c.cfg.RestartWait)
			return nil
		case <-tick.C:
		}
	}
	return nil
}

// starting returns why this node shares no copies yet, or nil.
func (n *Node) starting() error {
	if n.deciding.Load() {
		return api.TryAgainf("node is deciding whether to keep its data directory; try again")
	}
	return nil
}
