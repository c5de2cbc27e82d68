package node

import (
	"context"
	"slices"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/disk"
	"github.com/sessiongate/sessiongate/membership"
	"github.com/sessiongate/sessiongate/replica"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/view"
)

// With a data directory (package disk), a write counts this node's copy only once the
// directory's fsync policy says it is durable: a primary's through its flight
// (replica.Config.Local), a backup's before it acknowledges the copy (handler.Apply), a
// carrier's before it answers its client (applyCarried; under fsync always there are no
// carriers), a lone node's before it answers.
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

// diskErr is why changes cannot be kept now, or nil (always, without a data directory).
func (n *Node) diskErr() error {
	if n.disk == nil {
		return nil
	}
	return n.disk.Err()
}

// waitsForDisk reports whether a change counts only once it is on disk: under fsync always.
func (n *Node) waitsForDisk() bool { return n.disk != nil && n.disk.Waits() }

// diskRefuses returns why cmd may not run now: it writes, and writes cannot be kept.
func (n *Node) diskRefuses(cmd *sessions.Command) error {
	if !cmd.Kind.Traits().Write {
		return nil
	}
	return n.diskErr()
}

// durable returns once every change taken so far is durable, or why it cannot be.
func (n *Node) durable(ctx context.Context) error {
	if !n.waitsForDisk() {
		return n.diskErr() // durable once taken, unless the log failed
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
	if err := n.diskErr(); err != nil {
		return nil, err
	}
	n.store.ApplyAll(ops)
	n.stats.Applied.Add(uint64(len(ops)))
	if !n.waitsForDisk() {
		return nil, nil
	}
	return replication.Deferred(func(answer func(any, error)) {
		n.disk.WhenDurable(func(err error) { answer(nil, err) })
	}), nil
}

// whenDurable is replica.Config.Local: nil unless the disk is waited for.
func (n *Node) whenDurable() func(func(error)) {
	if !n.waitsForDisk() {
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

// awaitMembers waits, when the node restarted on data from its directory, until every other
// member of its last recorded view is a member again (or, for a directory that recorded no
// view but has seeds to join, one peer is), or RestartWait passed. In a full-cluster restart
// the others are starting too: before they are back, the node would answer "does not exist"
// for every session held only by them. Clients are not served meanwhile (Join returns first).
func (c *cluster) awaitMembers(ctx context.Context) error {
	recorded := c.n.loaded.Members
	if c.n.disk == nil || c.n.loaded.LastAlive.IsZero() || recorded == nil && len(c.cfg.Join) == 0 {
		return nil
	}
	var want []string // nil: any peer
	if recorded != nil {
		want = slices.DeleteFunc(slices.Clone(recorded), func(name string) bool { return name == c.cfg.Name })
		if len(want) == 0 {
			return nil // it was alone
		}
	}
	if c.back(want) {
		return nil
	}
	c.log.Info("data directory loaded: waiting for the cluster's members before serving", "members", want, "up_to", c.cfg.RestartWait)
	deadline := time.NewTimer(c.cfg.RestartWait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !c.back(want) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			c.log.Warn("not every member came back: serving without them", "waited", c.cfg.RestartWait, "members", len(c.ml.Members()))
			return nil
		case <-tick.C:
		}
	}
	return nil
}

// back reports whether every name in want is a member, or, when want is nil, any peer is.
func (c *cluster) back(want []string) bool {
	peers := c.ml.Members()
	if want == nil {
		return len(peers) > 0
	}
	for _, name := range want {
		if !slices.ContainsFunc(peers, func(m membership.Member) bool { return m.Name == name }) {
			return false
		}
	}
	return true
}

// recordMembers keeps v's members in the data directory once Join has returned, so that a
// restart knows whom to wait for (awaitMembers).
func (c *cluster) recordMembers(v *view.View) {
	if c.n.disk != nil && c.rejoined.Load() {
		c.n.disk.Members(v.Names())
	}
}

// starting returns why this node shares no copies yet, or nil.
func (n *Node) starting() error {
	if n.deciding.Load() {
		return api.TryAgainf("node is deciding whether to keep its data directory; try again")
	}
	return nil
}

// carrier is replica.Carrier, except under fsync always: a carrier would apply its copy, and
// wait for its disk, only after the primary answered, one fsync after the others; as a plain
// backup it gets its copy with them and writes it in parallel.
func (c *cluster) carrier(v *view.View, p int, via string) string {
	if c.n.waitsForDisk() {
		return ""
	}
	return replica.Carrier(v, p, c.cfg.Name, via)
}
