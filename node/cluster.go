package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/replica"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/ring"
	"github.com/sessiongate/sessiongate/workpool"
)

// cluster is the part of a node that exists only in a cluster: membership, the current view
// of the ring, and the replication client and server.
type cluster struct {
	n   *Node
	cfg ClusterConfig
	log *slog.Logger

	ml     *memberlist.Memberlist
	kr     *memberlist.Keyring // gossip keys, nil without a cluster secret (security.go)
	client *replication.Client
	server *replication.Server
	ln     net.Listener

	view    atomic.Pointer[view]
	rebuild chan struct{}
	leaving atomic.Bool
	joinErr atomic.Pointer[error]
	// joined is set once the node has installed the view its seeds gave it (at once when it
	// has none). Before that it sees itself alone, primary of everything with no backups, so
	// it refuses forwarded commands: a write taken then would be acknowledged on one copy.
	joined atomic.Bool

	// mu serialises view installs and guards unheld. Never call into memberlist while
	// holding it: memberlist calls our delegate with its own locks held.
	mu sync.Mutex
	// knownMu guards known and peers; the delegate takes it from inside memberlist.
	knownMu sync.Mutex
	known   map[string]string // node name -> gossip address, for re-joining after long partitions
	// peers is the live member list as memberlist's events reported it, copied inside the
	// callbacks: memberlist mutates the *Node values Members() returns without a lock we
	// can take, so reading them later is a data race.
	peers map[string]memberInfo
	// keysOf holds the ids of the cluster secrets each peer holds (security.go); verified,
	// unverified and checking track members proving themselves under peer TLS alone.
	keysOf     map[string][][]byte
	verified   map[string]string // name -> the replication address it proved
	unverified map[string]memberInfo
	checking   map[string]bool
	// dirty marks partitions whose backups missed a write; anti-entropy repairs them first.
	dirty []atomic.Bool

	// unheld records since when this node has not held a partition it once held; its copy
	// is dropped after DropAfter (guarded by mu).
	unheld map[int]time.Time

	// born and lastTick let the stall watchdog (stall.go) tell that the process was frozen.
	born     time.Time
	lastTick atomic.Int64 // nanoseconds since born at the watchdog's last note

	// pulling counts, per partition, this node's pulls of it still under way (as primary or
	// as backup): until they finish, its copy may lack acknowledged writes.
	pulling    []atomic.Int32
	lastSyncMs atomic.Int64 // duration of the last completed round of syncs after a view change
	repairs    atomic.Uint64

	repl *replica.Replicator // replication of writes and read leases (replicate.go)

	stop chan struct{}
	life context.Context // ends with stop
	end  context.CancelFunc
	wg   sync.WaitGroup
	pool workpool.Pool // runs forwarded batches' commands, and copies waiting for a dial
}

// view is one membership view: the ring, where to reach each member, and per partition a
// channel closed once this node may serve it as primary (after it pulled the partition from
// the previous holders).
type view struct {
	ring    *ring.Ring
	members map[string]memberInfo
	ready   []chan struct{}
	since   time.Time
}

type memberInfo struct {
	Name, Gossip, Repl, RESP string
	State                    string
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
		known:   map[string]string{},
		peers:   map[string]memberInfo{},
		keysOf:  map[string][][]byte{}, verified: map[string]string{},
		unverified: map[string]memberInfo{}, checking: map[string]bool{},
		unheld:  map[int]time.Time{},
		dirty:   make([]atomic.Bool, cfg.Partitions),
		pulling: make([]atomic.Int32, cfg.Partitions),
		stop:    make(chan struct{}),
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
	c.life, c.end = context.WithCancel(context.Background())
	c.repl = c.newReplicator()
	ln, err := net.Listen("tcp", cfg.ReplAddr)
	if err != nil {
		return nil, fmt.Errorf("cluster: replication listener: %w", err)
	}
	c.ln = ln
	c.server = replication.NewServer(replication.ServerConfig{Logger: c.log, Security: c.security()}, handler{c})
	go c.server.Serve(ln)
	c.client = replication.NewClient(c.clientConfig())
	c.installView() // alone until gossip says otherwise
	mc, err := c.memberlistConfig()
	if err != nil {
		c.end()
		c.server.Close()
		return nil, err
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		c.end()
		c.server.Close()
		return nil, fmt.Errorf("cluster: gossip: %w", err)
	}
	c.ml = ml
	c.installView()
	c.knownMu.Lock()
	for _, s := range cfg.Join {
		c.known["seed:"+s] = s
	}
	c.knownMu.Unlock()
	c.joined.Store(len(cfg.Join) == 0)
	c.wg.Add(1)
	go c.viewLoop()
	c.born = time.Now()
	c.every(stallTick, func() { c.checkStall() }) // the stall watchdog (stall.go)
	c.every(cfg.RejoinInterval, c.rejoin)
	c.every(cfg.AntiEntropyInterval, func() { c.antiEntropyRound() })
	c.every(max(cfg.DropAfter/4, 50*time.Millisecond), c.dropUnheld)
	if c.repl.Enabled() {
		c.every(cfg.ReadLease/4, func() { c.repl.Ask(c.life) })
		c.every(replica.TouchEvery, func() { c.repl.FlushTouches(c.life) })
	}
	return c, nil
}

// Join contacts the seeds. Seeds that are not up yet are retried in the background; only an
// incompatible cluster is an error.
func (n *Node) Join(ctx context.Context) error {
	c := n.cluster
	if c == nil || len(c.cfg.Join) == 0 {
		return nil
	}
	_, err := c.joinAny(c.cfg.Join)
	if p := c.joinErr.Load(); p != nil {
		return *p
	}
	if err != nil {
		c.log.Warn("seeds not reachable yet; will keep trying", "seeds", c.cfg.Join, "err", err)
	}
	// Install the joined view now rather than after viewLoop's coalescing delay: a node
	// restarted empty would otherwise serve its first commands from its alone view, in
	// which it is primary of everything and answers "does not exist" for every session.
	c.installView()
	c.useSharedKey()
	c.joined.Store(true)
	return nil
}

// remember records a member from inside a memberlist callback, where reading n is safe.
func (c *cluster) remember(n *memberlist.Node) {
	if n.Name == c.cfg.Name {
		return
	}
	addr := n.Address()
	var md meta
	ok := msgpack.Unmarshal(n.Meta, &md) == nil && md.Partitions == c.cfg.Partitions
	c.knownMu.Lock()
	c.known[n.Name] = addr
	c.keysOf[n.Name] = md.Keys
	m := memberInfo{Name: n.Name, Gossip: addr, Repl: md.Repl, RESP: md.RESP, State: stateName(n.State)}
	if ok && c.admit(m) {
		c.peers[n.Name] = m
	} else {
		delete(c.peers, n.Name)
	}
	c.knownMu.Unlock()
}

// forget drops a member memberlist declared dead or gone, from inside its callback.
func (c *cluster) forget(n *memberlist.Node) {
	c.knownMu.Lock()
	delete(c.peers, n.Name)
	delete(c.keysOf, n.Name)
	delete(c.verified, n.Name)
	delete(c.unverified, n.Name)
	c.knownMu.Unlock()
}

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
		case <-c.stop:
			return
		case <-c.rebuild:
		}
		select {
		case <-c.stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		c.installView()
		c.useSharedKey()
	}
}

// installView computes the ring for the current members and starts the partition syncs the
// change calls for. Views are only ever installed by one goroutine at a time.
func (c *cluster) installView() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.knownMu.Lock()
	members := make(map[string]memberInfo, len(c.peers)+1)
	for name, m := range c.peers {
		members[name] = m
	}
	c.knownMu.Unlock()
	if c.leaving.Load() {
		delete(members, c.cfg.Name)
	} else {
		members[c.cfg.Name] = memberInfo{Name: c.cfg.Name, Gossip: c.cfg.Advertise, Repl: c.cfg.ReplAdvertise, RESP: c.cfg.RESPAddr, State: "alive"}
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
	var moves []ring.Move
	if old != nil {
		moves = ring.Diff(old.ring, r)
	}
	for p := range nv.ready {
		nv.ready[p] = closedChan
		if old != nil && old.ring.Primary(p) == c.cfg.Name {
			nv.ready[p] = old.ready[p] // still ours: keep waiting on any sync under way
		}
	}
	var syncs []partitionSync
	var lost []int // partitions this node stopped being primary of: pushed by runHandoffs
	for _, mv := range moves {
		wasPrimary := len(mv.Old) > 0 && mv.Old[0] == c.cfg.Name
		if wasPrimary && mv.New[0] != c.cfg.Name {
			// Repairing the partition's backups is the new primary's job now (it pulls, and we
			// push below); a flag left set here would report it under-replicated forever.
			c.dirty[mv.Partition].Store(false)
			// The new primary pulls from us, but may have pulled before we saw the change and
			// took our last writes. Push them once we have stopped (leave pushes by itself).
			if _, alive := members[mv.New[0]]; alive && !c.leaving.Load() {
				lost = append(lost, mv.Partition)
			}
		}
		self := slices.Contains(mv.New, c.cfg.Name)
		if !self || c.leaving.Load() {
			continue
		}
		from := map[string]bool{}
		for _, m := range append(slices.Clone(mv.Old), mv.New...) {
			if m != c.cfg.Name {
				if _, alive := members[m]; alive {
					from[m] = true
				}
			}
		}
		ps := partitionSync{p: mv.Partition, from: from}
		// A primary that stays primary keeps serving only if nobody it now pulls from is
		// new to it: a member that just (re)appeared, such as the rest of the cluster seen
		// by a node that restarted empty and briefly saw itself alone, may hold sessions
		// this node has never seen.
		newcomer := old == nil && len(from) > 0
		if old != nil {
			for m := range from {
				if _, known := old.members[m]; !known {
					newcomer = true
					break
				}
			}
		}
		if mv.New[0] == c.cfg.Name && (!wasPrimary || newcomer) {
			// Newly primary: serve nothing until the previous holders' data is merged in, so
			// that no read answers "does not exist" for a live session.
			ps.ready = make(chan struct{})
			nv.ready[mv.Partition] = ps.ready
		}
		if len(from) > 0 {
			syncs = append(syncs, ps)
		} else if ps.ready != nil {
			close(ps.ready)
		}
	}
	for p := 0; p < r.Partitions(); p++ {
		if held, _ := r.Holds(c.cfg.Name, p); held {
			delete(c.unheld, p)
		} else if _, ok := c.unheld[p]; !ok {
			c.unheld[p] = time.Now()
		}
	}
	c.startSyncs(syncs, nv) // counted before the view shows: reports never miss a pull
	c.view.Store(nv)
	if old != nil {
		c.log.Info("ring changed", "members", len(names), "partitions_moved", len(moves), "syncs", len(syncs))
	}
	if len(lost) > 0 {
		go c.runHandoffs(lost)
	}
}

func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	}
	return "left"
}

// rejoin re-joins known peers that are not members: memberlist stops gossiping to a dead node
// after GossipToTheDeadTime, so without this a long partition would never heal.
func (c *cluster) rejoin() {
	if c.leaving.Load() {
		return
	}
	v := c.view.Load()
	present := map[string]bool{}
	for _, m := range v.members {
		present[m.Gossip] = true
	}
	c.knownMu.Lock()
	var addrs []string
	for name, addr := range c.known {
		if _, ok := v.members[name]; !ok && !present[addr] && addr != c.cfg.Advertise {
			addrs = append(addrs, addr)
		}
	}
	c.knownMu.Unlock()
	c.reverify()
	if len(addrs) > 0 {
		n, err := c.joinAny(addrs)
		c.log.Debug("re-join", "addrs", addrs, "reached", n, "err", err)
	}
}

func (c *cluster) shutdown() error {
	close(c.stop)
	c.end()
	c.wg.Wait()
	err := c.ml.Shutdown()
	c.client.Close()
	c.server.Close()
	c.pool.Close()
	return err
}

// handoffParallelism bounds the partition pushes a node runs at once (leaving, or handing
// lost partitions to their new primaries).
const handoffParallelism = 16

// leavePushAttempts bounds the tries of one partition's push to one holder when leaving.
const leavePushAttempts = 4

// leave hands this node's partitions to their next holders, then leaves the gossip group.
func (c *cluster) leave(ctx context.Context) error {
	old := c.view.Load()
	c.leaving.Store(true)
	c.installView() // route as if we were gone: we stop being anyone's primary
	nv := c.view.Load()
	start := time.Now()
	moved := 0
	var hs []handoff
	for p := 0; p < old.ring.Partitions(); p++ {
		if held, _ := old.ring.Holds(c.cfg.Name, p); !held {
			continue
		}
		for _, to := range nv.ring.Replicas(p) {
			hs = append(hs, handoff{p: p, to: to})
		}
		moved++
	}
	// Pushes run in parallel: while they last, the partitions answer TRYAGAIN (the others
	// still route to this node, which no longer serves them), so their length is downtime.
	c.pushEach(hs, func() bool { return ctx.Err() == nil }, func(h handoff) {
		// This copy may be the only one of the last writes: a push is tried again (a
		// holder restarting, a dial failed a moment ago) before it is given up.
		for attempt := 1; ; attempt++ {
			err := c.pushPartition(ctx, h.to, h.p)
			if err == nil {
				return
			}
			if attempt == leavePushAttempts || ctx.Err() != nil {
				c.log.Warn("hand-off failed", "partition", h.p, "to", h.to, "attempts", attempt, "err", err)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
	c.log.Info("handed off partitions", "partitions", moved, "took", time.Since(start))
	if err := c.ml.Leave(5 * time.Second); err != nil {
		c.log.Warn("leave broadcast", "err", err)
	}
	// Commands forwarded here before the others saw us go may still be running, or waiting
	// out the read-lease fence of the view change leaving made: a write that ran but whose
	// answer is cut off by the shutdown gets retried elsewhere, which then finds it done
	// (chaos, rolling restart: an END answered "does not exist"). Let them answer first.
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
