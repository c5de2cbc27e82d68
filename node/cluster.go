package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiongate/sessiongate/membership"
	"github.com/sessiongate/sessiongate/mover"
	"github.com/sessiongate/sessiongate/replica"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/ring"
	"github.com/sessiongate/sessiongate/stall"
	"github.com/sessiongate/sessiongate/view"
	"github.com/sessiongate/sessiongate/wire"
	"github.com/sessiongate/sessiongate/workpool"
)

// cluster is the part of a node that exists only in a cluster: membership, the current view
// of the ring, and the replication client and server.
type cluster struct {
	n   *Node
	cfg ClusterConfig
	log *slog.Logger

	ml     *membership.Membership                // gossip membership
	gossip atomic.Pointer[membership.Membership] // ml, for plainTo, which may run before ml is set
	client wire.Client
	server *replication.Server
	ln     net.Listener

	views   atomic.Pointer[view.View] // the installed view
	rebuild chan struct{}
	leaving atomic.Bool
	// joined is set once the node has installed the view its seeds gave it (at once when it
	// has none). Before that it sees itself alone, primary of everything with no backups, so
	// it refuses forwarded commands: a write taken then would be acknowledged on one copy.
	joined atomic.Bool
	// rejoined is set once Join returned: from then on the views' members are recorded in the
	// data directory (recordMembers), and not before, so that a restart cut short while it
	// waits for the others still knows whom to wait for.
	rejoined atomic.Bool

	// mu serialises view installs and guards unheld. Never call into memberlist while
	// holding it: memberlist calls our delegate with its own locks held.
	mu    sync.Mutex
	watch *stall.Watchdog // tells that the process was frozen (checkStall)

	mover *mover.Mover // pulls, hand-offs, anti-entropy, drops

	repl *replica.Replicator // replication of writes and read leases

	life context.Context // the node's lifetime (Node.life); its goroutines are on Node.wg
	pool workpool.Pool   // runs forwarded batches' commands, and copies waiting for a dial
}

func newCluster(n *Node, cfg ClusterConfig) (*cluster, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if _, err := ring.New(ring.Config{Partitions: cfg.Partitions, Replicas: cfg.Replicas}, []string{cfg.Name}); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c := &cluster{
		n: n, cfg: cfg, log: n.log.With("node", cfg.Name),
		rebuild: make(chan struct{}, 1),
	}
	warn, err := cfg.checkProtected()
	if err != nil {
		return nil, err
	}
	if cfg.Transition {
		c.log.Warn("cluster secret transition: links and gossip without the secret are accepted until the next restart without it")
	}
	if warn {
		c.log.Warn("cluster links are neither authenticated nor encrypted: anyone who reaches the cluster ports can read and change every session; set a cluster secret", "gossip", cfg.BindAddr, "repl", cfg.ReplAddr)
	}
	c.life = n.life
	c.watch = stall.New(cfg.StallThreshold, stall.Since(time.Now()))
	c.client = wire.Client{Client: replication.NewClient(c.clientConfig())}
	c.repl = c.newReplicator()
	c.mover = mover.New(c.life, mover.Config{
		Self: cfg.Name, RPCTimeout: cfg.RPCTimeout, HandoffDelay: cfg.HandoffDelay, DropAfter: cfg.DropAfter,
		Current: func() mover.View { return c.views.Load() }, Install: &c.mu,
		InSync: c.repl.Synced, Clock: c.repl.Now, Logger: c.log,
	}, cfg.Partitions, c.client, n.store)
	ln, err := net.Listen("tcp", cfg.ReplAddr)
	if err != nil {
		c.client.Close()
		return nil, fmt.Errorf("cluster: replication listener: %w", err)
	}
	c.ln = ln
	c.server = replication.NewServer(replication.ServerConfig{Logger: c.log, Security: c.security()}, wire.Serve(handler{c}, n.store))
	go c.server.Serve(ln)
	c.installView() // alone until gossip says otherwise
	ml, err := c.startGossip()
	if err != nil {
		c.server.Close()
		c.client.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c.ml = ml
	c.installView()
	c.joined.Store(len(cfg.Join) == 0)
	c.n.wg.Add(1)
	go c.viewLoop()
	c.watch.Check()                                 // starting up is no stall: note it before the watch begins
	c.n.every(stallTick, func() { c.checkStall() }) // the stall watchdog
	c.n.every(cfg.AntiEntropyInterval, func() { c.mover.AntiEntropy() })
	c.n.every(max(cfg.DropAfter/4, 50*time.Millisecond), c.mover.DropUnheld)
	if c.repl.Enabled() {
		c.n.every(cfg.ReadLease/4, func() { c.repl.Ask(c.life) })
		c.n.every(replica.TouchEvery, func() { c.repl.FlushTouches(c.life) })
	}
	return c, nil
}

// Join contacts the seeds. Seeds that are not up yet are retried in the background; only an
// incompatible cluster (ErrIncompatible), or ctx ending first, is an error.
func (n *Node) Join(ctx context.Context) error {
	c := n.cluster
	if c == nil {
		return nil
	}
	seeds := len(c.cfg.Join) > 0 // without, the others join it (and it was joined at once)
	if seeds {
		if err := c.ml.Join(ctx); err != nil {
			return err
		}
	}
	if err := c.awaitMembers(ctx); err != nil {
		return err
	}
	if seeds {
		c.settleStaleData()
		// Install the joined view now rather than after viewLoop's coalescing delay: a node
		// restarted empty would otherwise serve its first commands from its alone view, in
		// which it is primary of everything and answers "does not exist" for every session.
		c.installView()
		c.ml.UseSharedKey()
		c.joined.Store(true)
	}
	c.rejoined.Store(true)
	c.recordMembers(c.views.Load())
	return nil
}

// membershipChanged asks viewLoop for a new view; membership calls it inside memberlist's
// callbacks, so it must not block.
func (c *cluster) membershipChanged() {
	select {
	case c.rebuild <- struct{}{}:
	default:
	}
}

// viewLoop rebuilds the ring after membership changes, coalescing bursts of events.
func (c *cluster) viewLoop() {
	defer c.n.wg.Done()
	for {
		select {
		case <-c.life.Done():
			return
		case <-c.rebuild:
		}
		select {
		case <-c.life.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
		c.installView()
		c.ml.UseSharedKey()
	}
}

// installView computes the view of the current members and starts the partition syncs the
// change calls for. Views are only ever installed by one goroutine at a time.
func (c *cluster) installView() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var peers []membership.Member
	if c.ml != nil { // nil for the view installed before gossip starts
		peers = c.ml.Members()
	}
	self := membership.Member{Name: c.cfg.Name, Gossip: c.cfg.Advertise, Repl: c.cfg.ReplAdvertise, RESP: c.cfg.RESPAddr}
	members := view.Members(self, peers, c.leaving.Load())
	if len(members) == 0 {
		return
	}
	nv, err := view.Build(ring.Config{Partitions: c.cfg.Partitions, Replicas: c.cfg.Replicas}, members, time.Now())
	if err != nil {
		c.log.Error("cannot build ring", "err", err)
		return
	}
	old := c.views.Load()
	if old != nil && old.Version() == nv.Version() {
		c.views.Store(old.WithMembers(members)) // same members; states (alive/suspect) only
		return
	}
	c.repl.ViewChanged()
	plan := mover.PlanChange(nv.Change(old, c.cfg.Name, c.leaving.Load()))
	nv.Inherit(old, c.cfg.Name) // still ours: keep waiting on any sync under way
	for _, p := range plan.Resigned {
		c.mover.ClearDirty(p)
	}
	c.mover.NoteHeld(nv.Ring())
	c.mover.Start(nv, gate(nv, plan.Syncs)) // counted before the view shows: reports never miss a pull
	c.views.Store(nv)
	c.recordMembers(nv)
	if old != nil {
		c.log.Info("ring changed", "members", len(members), "partitions_moved", plan.Moved, "syncs", len(plan.Syncs))
	}
	if len(plan.Lost) > 0 {
		c.mover.HandOff(plan.Lost)
	}
}

// gate turns syncs into pulls, gating the partitions of v that must wait for their first round.
func gate(v *view.View, syncs []mover.Sync) []mover.Pull {
	pulls := make([]mover.Pull, len(syncs))
	for i, s := range syncs {
		pulls[i].Sync = s
		if s.Gate {
			pulls[i].Ready = v.Gate(s.P)
		}
	}
	return pulls
}

// shutdown closes what the cluster holds, once the node's lifetime has ended and its
// goroutines have returned.
func (c *cluster) shutdown() error {
	err := c.ml.Shutdown()
	c.client.Close()
	c.server.Close()
	c.pool.Close()
	return err
}

// leave hands this node's partitions to their next holders, then leaves the gossip group.
func (c *cluster) leave(ctx context.Context) error {
	old := c.views.Load()
	c.leaving.Store(true)
	c.installView() // route as if we were gone: we stop being anyone's primary
	nv := c.views.Load()
	start := time.Now()
	hs, moved := mover.PlanLeave(c.cfg.Name, old.Ring(), nv.Ring())
	c.mover.Leave(ctx, hs)
	c.log.Info("handed off partitions", "partitions", moved, "took", time.Since(start))
	if err := c.ml.Leave(5 * time.Second); err != nil {
		c.log.Warn("leave broadcast", "err", err)
	}
	// Commands forwarded here before the others saw us go may still be running, or waiting
	// out the read-lease fence of the view change leaving made: a write that ran but whose
	// answer is cut off by the shutdown gets retried elsewhere, which then finds it done and
	// could deny its own effect. Let them answer first.
	dctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	if !c.server.Drain(dctx) {
		c.log.Warn("forwarded commands still running at shutdown", "waited", c.cfg.CommandTimeout)
	}
	return nil
}
