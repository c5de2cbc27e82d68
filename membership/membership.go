// Package membership is sessiongate's gossip membership: which nodes are in the cluster, and
// where to reach them. It runs hashicorp/memberlist, gossiping each node's addresses and
// partition count, and keeps the members out that cannot be trusted or cannot work with this
// node:
//
//   - a node with another partition count is refused (ErrIncompatible);
//   - gossip is encrypted with keys derived from the cluster secrets, and moves to a newer
//     secret once every member holds it (keys.go);
//   - under peer TLS without a secret, where gossip proves nothing, a member counts only once
//     its replication port has answered under its name (admit.go).
//
// Known members that vanish are re-joined every RejoinInterval, so that a partition longer
// than memberlist's dead-node timeout still heals.
package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/sessiongate/sessiongate/clusterkey"
)

// ErrIncompatible is returned by Join when the cluster was configured with a different
// number of partitions.
var ErrIncompatible = errors.New("incompatible cluster configuration")

// Config configures a member. Zero fields take the documented defaults.
type Config struct {
	// Name is the member's stable, unique name. Required.
	Name string
	// BindAddr is the gossip address (TCP and UDP), HOST:PORT. Required.
	BindAddr string
	// Advertise is the gossip address the others use (for containers and NAT). Default BindAddr.
	Advertise string

	// Repl, RESP and Partitions are gossiped to the others as this member's replication
	// address, client address and partition count. A member whose partition count differs
	// from this one's is refused.
	Repl, RESP string
	Partitions int

	// Join lists seed gossip addresses. Seeds not up yet are retried every RejoinInterval.
	Join []string
	// RejoinInterval is how often known members that are gone are re-joined. Default 5s.
	RejoinInterval time.Duration

	// Keys are the cluster secrets, newest first. Gossip is encrypted with keys derived from
	// them and refused when none opens it. Default none: gossip in clear.
	Keys []clusterkey.Key
	// Transition also accepts gossip in clear, and starts encrypting only once every member
	// holds one of Keys (a cluster moving from no secret to one).
	Transition bool

	// Identify, if set, makes a member count only once Identify of its replication address
	// has answered with the member's name. It runs on its own goroutine with the membership's
	// context, and must bound its own wait.
	Identify func(ctx context.Context, repl string) (name string, err error)

	// OnChange, if set, is called when the member list may have changed. It is called from
	// inside memberlist's callbacks, with memberlist's locks held: it must return at once and
	// not call back into the Membership.
	OnChange func()
	// StaleUntil, if set, is gossiped in the member's metadata: until when (unix ms) its
	// data counts as older than the tombstone TTL (0: it does not; see node's Join).
	StaleUntil func() int64
	// Leaving, if set, reports that the member is on its way out (handing off its work before
	// Leave): no member is re-joined meanwhile.
	Leaving func() bool

	// Memberlist, if set, adjusts the memberlist configuration (timers, transport) before start.
	Memberlist func(*memberlist.Config)
	// Logger receives the membership's events. Default slog.Default().
	Logger *slog.Logger
}

// Member is one member of the cluster, as gossip last described it.
type Member struct {
	Name   string
	Gossip string // gossip address
	Repl   string // replication address
	RESP   string // client address
	State  string // alive, suspect, dead or left
	// StaleUntil is until when (unix ms) the member's data counts as stale; 0 if it never did.
	StaleUntil int64
}

// Membership is this node's membership of the cluster.
type Membership struct {
	cfg  Config
	log  *slog.Logger
	ml   *memberlist.Memberlist
	kr   *memberlist.Keyring // gossip keys, nil without a cluster secret (keys.go)
	ctx  context.Context     // ends at Shutdown, or with Create's
	stop context.CancelFunc
	wg   sync.WaitGroup // the rejoin loop

	joinErr atomic.Pointer[error] // set when a seed's cluster was refused
	left    atomic.Bool

	// mu guards what follows; the delegate takes it from inside memberlist.
	mu    sync.Mutex
	known map[string]string // name -> gossip address, for re-joining after long partitions
	// peers are the live, admitted members as memberlist's events reported them, copied
	// inside the callbacks: memberlist mutates the *Node values its Members returns without a
	// lock we can take, so reading them later is a data race.
	peers map[string]Member
	// keysOf holds the ids of the cluster secrets each member holds (keys.go); verified,
	// unverified and checking track the members proving themselves to Identify (admit.go).
	keysOf     map[string][][]byte
	verified   map[string]string // name -> the replication address it proved
	unverified map[string]Member
	checking   map[string]bool
}

// Create starts gossiping. ctx is the member's lifetime: the background work (re-joins,
// verifications) ends with it, or at Shutdown. Create does not contact the seeds; Join does.
func Create(ctx context.Context, cfg Config) (*Membership, error) {
	if cfg.Name == "" || cfg.BindAddr == "" {
		return nil, errors.New("membership: Name and BindAddr are required")
	}
	if cfg.Advertise == "" {
		cfg.Advertise = cfg.BindAddr
	}
	if cfg.RejoinInterval <= 0 {
		cfg.RejoinInterval = 5 * time.Second
	}
	m := &Membership{
		cfg: cfg, log: cfg.Logger,
		known: map[string]string{}, peers: map[string]Member{}, keysOf: map[string][][]byte{},
		verified: map[string]string{}, unverified: map[string]Member{}, checking: map[string]bool{},
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	for _, s := range cfg.Join {
		m.known["seed:"+s] = s
	}
	m.ctx, m.stop = context.WithCancel(ctx)
	mc, err := m.memberlistConfig()
	if err != nil {
		m.stop()
		return nil, err
	}
	if m.ml, err = memberlist.Create(mc); err != nil {
		m.stop()
		return nil, fmt.Errorf("gossip: %w", err)
	}
	m.wg.Add(1)
	go m.rejoinLoop()
	return m, nil
}

// Join contacts the seeds. Seeds that are not up yet are retried in the background; only a
// refused cluster (ErrIncompatible) or the end of ctx is an error. ctx is checked between
// attempts; one attempt is bounded by memberlist's TCPTimeout.
func (m *Membership) Join(ctx context.Context) error {
	if len(m.cfg.Join) == 0 {
		return nil
	}
	_, err := m.joinAny(ctx, m.cfg.Join)
	if p := m.joinErr.Load(); p != nil {
		return *p
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		m.log.Warn("seeds not reachable yet; will keep trying", "seeds", m.cfg.Join, "err", err)
	}
	return nil
}

// UpdateMeta gossips this member's metadata again, once what it says has changed.
func (m *Membership) UpdateMeta(timeout time.Duration) error { return m.ml.UpdateNode(timeout) }

// Leave tells the others that this member is leaving, waiting up to timeout for the news to
// spread. Nobody is re-joined after it.
func (m *Membership) Leave(timeout time.Duration) error {
	m.left.Store(true)
	return m.ml.Leave(timeout)
}

// Shutdown stops the background work and gossip, without telling the others (see Leave).
func (m *Membership) Shutdown() error {
	m.stop()
	m.wg.Wait()
	return m.ml.Shutdown()
}

// Members returns the live, admitted members other than this one.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.peers))
	for _, p := range m.peers {
		out = append(out, p)
	}
	return out
}

func (m *Membership) changed() {
	if m.cfg.OnChange != nil {
		m.cfg.OnChange()
	}
}

func (m *Membership) rejoinLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		m.rejoin()
	}
}

// rejoin re-joins known members that are gone: memberlist stops gossiping to a dead node
// after GossipToTheDeadTime, so without this a long partition would never heal.
func (m *Membership) rejoin() {
	if m.left.Load() || m.cfg.Leaving != nil && m.cfg.Leaving() {
		return
	}
	m.mu.Lock()
	present := map[string]bool{}
	for _, p := range m.peers {
		present[p.Gossip] = true
	}
	var addrs []string
	for name, addr := range m.known {
		if _, ok := m.peers[name]; !ok && !present[addr] && addr != m.cfg.Advertise {
			addrs = append(addrs, addr)
		}
	}
	m.mu.Unlock()
	m.reverify()
	if len(addrs) > 0 {
		n, err := m.joinAny(m.ctx, addrs)
		m.log.Debug("re-join", "addrs", addrs, "reached", n, "err", err)
	}
}
