package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/membership"
	"github.com/sessiongate/sessiongate/mover"
	"github.com/sessiongate/sessiongate/replica"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/ring"
	"github.com/sessiongate/sessiongate/stall"
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
	client *replication.Client
	server *replication.Server
	ln     net.Listener

	view    atomic.Pointer[view]
	rebuild chan struct{}
	leaving atomic.Bool
	// joined is set once the node has installed the view its seeds gave it (at once when it
	// has none). Before that it sees itself alone, primary of everything with no backups, so
	// it refuses forwarded commands: a write taken then would be acknowledged on one copy.
	joined atomic.Bool

	// mu serialises view installs and guards unheld. Never call into memberlist while
	// holding it: memberlist calls our delegate with its own locks held.
	mu    sync.Mutex
	watch *stall.Watchdog // tells that the process was frozen (checkStall)

	mover *mover.Mover // pulls, hand-offs, anti-entropy, drops

	repl *replica.Replicator // replication of writes and read leases

	life context.Context // the node's lifetime; ends at shutdown
	end  context.CancelFunc
	wg   sync.WaitGroup
	pool workpool.Pool // runs forwarded batches' commands, and copies waiting for a dial
}

// view is one membership view: the ring, where to reach each member, and per partition a
// channel closed once this node may serve it as primary (after it pulled the partition from
// the previous holders).
type view struct {
	ring    *ring.Ring
	members map[string]membership.Member
	ready   []chan struct{}
	since   time.Time
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

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
	c.life, c.end = context.WithCancel(n.life)
	c.watch = stall.New(cfg.StallThreshold, stall.Since(time.Now()))
	c.client = replication.NewClient(c.clientConfig())
	c.repl = c.newReplicator()
	c.mover = mover.New(c.life, mover.Config{
		Self: cfg.Name, RPCTimeout: cfg.RPCTimeout, HandoffDelay: cfg.HandoffDelay, DropAfter: cfg.DropAfter,
		Current: func() mover.View { return c.view.Load() }, Install: &c.mu,
		InSync: c.repl.Synced, Clock: c.repl.Now, Logger: c.log,
	}, cfg.Partitions, peers{c}, n.store)
	ln, err := net.Listen("tcp", cfg.ReplAddr)
	if err != nil {
		c.end()
		c.client.Close()
		return nil, fmt.Errorf("cluster: replication listener: %w", err)
	}
	c.ln = ln
	c.server = replication.NewServer(replication.ServerConfig{Logger: c.log, Security: c.security()}, handler{c})
	go c.server.Serve(ln)
	c.installView() // alone until gossip says otherwise
	ml, err := c.startGossip()
	if err != nil {
		c.end()
		c.server.Close()
		c.client.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c.ml = ml
	c.installView()
	c.joined.Store(len(cfg.Join) == 0)
	c.wg.Add(1)
	go c.viewLoop()
	c.watch.Check()                               // starting up is no stall: note it before the watch begins
	c.every(stallTick, func() { c.checkStall() }) // the stall watchdog
	c.every(cfg.AntiEntropyInterval, func() { c.mover.AntiEntropy() })
	c.every(max(cfg.DropAfter/4, 50*time.Millisecond), c.mover.DropUnheld)
	if c.repl.Enabled() {
		c.every(cfg.ReadLease/4, func() { c.repl.Ask(c.life) })
		c.every(replica.TouchEvery, func() { c.repl.FlushTouches(c.life) })
	}
	return c, nil
}

// Join contacts the seeds. Seeds that are not up yet are retried in the background; only an
// incompatible cluster (ErrIncompatible), or ctx ending first, is an error.
func (n *Node) Join(ctx context.Context) error {
	c := n.cluster
	if c == nil || len(c.cfg.Join) == 0 {
		return nil
	}
	if err := c.ml.Join(ctx); err != nil {
		return err
	}
	// Install the joined view now rather than after viewLoop's coalescing delay: a node
	// restarted empty would otherwise serve its first commands from its alone view, in
	// which it is primary of everything and answers "does not exist" for every session.
	c.installView()
	c.ml.UseSharedKey()
	c.joined.Store(true)
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
	defer c.wg.Done()
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

// installView computes the ring for the current members and starts the partition syncs the
// change calls for. Views are only ever installed by one goroutine at a time.
func (c *cluster) installView() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var peers []membership.Member
	if c.ml != nil { // nil for the view installed before gossip starts
		peers = c.ml.Members()
	}
	members := make(map[string]membership.Member, len(peers)+1)
	for _, m := range peers {
		members[m.Name] = m
	}
	if c.leaving.Load() {
		delete(members, c.cfg.Name)
	} else {
		members[c.cfg.Name] = membership.Member{Name: c.cfg.Name, Gossip: c.cfg.Advertise, Repl: c.cfg.ReplAdvertise, RESP: c.cfg.RESPAddr, State: "alive"}
	}
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	if len(names) == 0 {
		return
	}
	r, err := ring.New(ring.Config{Partitions: c.cfg.Partitions, Replicas: c.cfg.Replicas}, names)
	if err != nil {
		c.log.Error("cannot build ring", "err", err)
		return
	}
	old := c.view.Load()
	if old != nil && old.ring.Version() == r.Version() {
		// Same members; refresh states (alive/suspect) only.
		nv := *old
		nv.members = members
		c.view.Store(&nv)
		return
	}
	c.repl.ViewChanged()
	nv := &view{ring: r, members: members, ready: make([]chan struct{}, r.Partitions()), since: time.Now()}
	alive := make(map[string]bool, len(members))
	for m := range members {
		alive[m] = true
	}
	ch := mover.Change{Self: c.cfg.Name, New: r, Alive: alive, Leaving: c.leaving.Load()}
	if old != nil {
		ch.Old, ch.OldMembers = old.ring, make(map[string]bool, len(old.members))
		for m := range old.members {
			ch.OldMembers[m] = true
		}
	}
	plan := mover.PlanChange(ch)
	for p := range nv.ready {
		nv.ready[p] = closedChan
		if old != nil && old.ring.Primary(p) == c.cfg.Name {
			nv.ready[p] = old.ready[p] // still ours: keep waiting on any sync under way
		}
	}
	for _, p := range plan.Resigned {
		c.mover.ClearDirty(p)
	}
	c.mover.NoteHeld(r)
	c.mover.Start(nv, c.gate(nv, plan.Syncs)) // counted before the view shows: reports never miss a pull
	c.view.Store(nv)
	if old != nil {
		c.log.Info("ring changed", "members", len(names), "partitions_moved", plan.Moved, "syncs", len(plan.Syncs))
	}
	if len(plan.Lost) > 0 {
		c.mover.HandOff(plan.Lost)
	}
}

// gate turns syncs into pulls, closing the gated partitions of v until their first round.
func (c *cluster) gate(v *view, syncs []mover.Sync) []mover.Pull {
	pulls := make([]mover.Pull, len(syncs))
	for i, s := range syncs {
		pulls[i].Sync = s
		if s.Gate {
			pulls[i].Ready = make(chan struct{})
			v.ready[s.P] = pulls[i].Ready
		}
	}
	return pulls
}

func (c *cluster) shutdown() error {
	c.end()
	c.wg.Wait()
	err := c.ml.Shutdown()
	c.client.Close()
	c.server.Close()
	c.pool.Close()
	return err
}

// leave hands this node's partitions to their next holders, then leaves the gossip group.
func (c *cluster) leave(ctx context.Context) error {
	old := c.view.Load()
	c.leaving.Store(true)
	c.installView() // route as if we were gone: we stop being anyone's primary
	nv := c.view.Load()
	start := time.Now()
	moved := 0
	var hs []mover.Handoff
	for p := 0; p < old.ring.Partitions(); p++ {
		if held, _ := old.ring.Holds(c.cfg.Name, p); !held {
			continue
		}
		for _, to := range nv.ring.Replicas(p) {
			hs = append(hs, mover.Handoff{P: p, To: to})
		}
		moved++
	}
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

// clusterError is a retryable condition, written verbatim as the RESP error.
type clusterError struct{ msg string }

func (e *clusterError) Error() string     { return e.msg }
func (e *clusterError) RESPError() string { return e.msg }

func (e *clusterError) Is(target error) bool { return target == api.ErrTryAgain }

func tryAgain(format string, args ...any) error {
	return &clusterError{"TRYAGAIN " + fmt.Sprintf(format, args...)}
}

func clusterDown(format string, args ...any) error {
	return &clusterError{"CLUSTERDOWN " + fmt.Sprintf(format, args...)}
}
