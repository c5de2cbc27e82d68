package node

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// Read leases let a backup answer reads from its own copy instead of forwarding them to the
// primary, without reads going back in time while the cluster is steady.
//
// A backup asks each of its primaries for a lease every ReadLease/4. A primary that grants
// one promises: until ReadLease from now, no write of a partition this backup holds is
// acknowledged before the backup has applied it. It sends the grant over the same connection
// as its copies, after every copy it sent before, so the backup has applied those when it
// takes the lease; the backup counts the lease from the moment it asked, which is before the
// promise began. A backup that fails to acknowledge a copy makes the write wait until its
// lease runs out (a paused or cut-off node costs writes at most ReadLease once), and gets no
// new lease until an anti-entropy round that started after the failure found it in sync. A
// copy to a backup with no connection waits for the dial on a worker, and no lease is granted
// to that backup until it is queued.
// A view change voids every lease (they name the ring version) and the primaries acknowledge
// no write for ReadLease afterwards, so a backup still on the old view cannot miss one.
//
// What a backup answers from its copy: PGET, PGETALL and TTL hits on sessions without an idle
// timeout; misses, errors and everything else go to the primary. The reads it answers are sent
// to the primary in batches (touches), which keeps read counts and last-seen times there.
type leases struct {
	c     *cluster
	dur   time.Duration
	base  time.Time // times below are nanoseconds since base (monotonic)
	fence atomic.Int64

	mu       sync.RWMutex
	grantees map[string]*grantee // by backup name: what this node promised as a primary
	held     map[string]*held    // by primary name: what this node was granted as a backup
	nonce    uint64

	tmu     sync.Mutex
	touches map[string]*touchMsg // reads to report, by primary name
}

// grantee is one backup as its primary sees it.
type grantee struct {
	// send orders copies and grants to this backup: a copy decides whether it needs the
	// backup's ack and queues itself under it, so none decided before a grant goes after it.
	send     sync.Mutex
	until    atomic.Int64 // promise to this backup runs out
	failedAt atomic.Int64 // its last missed copy
	syncedAt atomic.Int64 // start of its last clean anti-entropy round
	// connecting counts copies queued while no connection to the backup existed: they
	// wait for a dial off the writer's path, and no lease is granted until they are queued.
	connecting atomic.Int32
	missed     uint64 // the backup's count of failed forwards last heard (via.go); under send
}

// held is one primary as its backup sees it.
type held struct {
	until   int64  // lease runs out (all fields guarded by leases.mu)
	version uint64 // ring version it was granted for
	asked   int64  // when the outstanding request was sent
	nonce   uint64 // of the outstanding request
	askedV  uint64
	missed  uint64 // forwarded calls to it that failed (via.go)
}

type leaseMsg struct {
	From    string `msgpack:"f"`
	Version uint64 `msgpack:"v"`
	Nonce   uint64 `msgpack:"n"`
	// Dur is the promise a grant makes, in nanoseconds: the primary's ReadLease, which the
	// backup's own setting does not override.
	Dur int64 `msgpack:"d,omitempty"`
	// Missed is the backup's count of forwarded calls that failed (via.go), in a request.
	Missed uint64 `msgpack:"m,omitempty"`
}

// touchMsg reports reads answered from a copy: the ids end to end (16 bytes each, one
// bin rather than an array of them: cheaper to encode) and when each was read.
type touchMsg struct {
	IDs []byte  `msgpack:"i"`
	At  []int64 `msgpack:"a"`
}

// touchEvery is how often reads answered from copies are reported to their primaries.
const touchEvery = 100 * time.Millisecond

// maxTouches bounds the reads waiting to be reported to one primary; beyond it they are
// dropped (counters are advisory; a primary that does not hear them keeps serving).
const maxTouches = 1 << 16

func newLeases(c *cluster, dur time.Duration) *leases {
	l := &leases{c: c, dur: dur, base: time.Now(), grantees: map[string]*grantee{},
		held: map[string]*held{}, touches: map[string]*touchMsg{}}
	// A restarted node may have granted leases in its previous life.
	l.fence.Store(l.now() + int64(dur))
	return l
}

func (l *leases) enabled() bool { return l.dur > 0 }

func (l *leases) now() int64 { return int64(time.Since(l.base)) }

// at is l.now as it read at t.
func (l *leases) at(t time.Time) int64 { return int64(t.Sub(l.base)) }

func (l *leases) grantee(name string) *grantee {
	l.mu.RLock()
	g := l.grantees[name]
	l.mu.RUnlock()
	if g != nil {
		return g
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	g = l.grantees[name]
	if g == nil {
		g = &grantee{}
		l.grantees[name] = g
	}
	return g
}

// viewChanged voids the leases of the old view: this node acknowledges no write until
// every lease it or another primary could have granted under it has run out.
func (l *leases) viewChanged() {
	if l.enabled() {
		l.fence.Store(l.now() + int64(l.dur))
	}
}

// fenceWait is how long a write must still wait before it may be acknowledged.
func (l *leases) fenceWait() time.Duration {
	return time.Duration(l.fence.Load() - l.now())
}

// ask requests leases from this node's primaries (holder side, every dur/4).
func (l *leases) ask() {
	c := l.c
	v := c.view.Load()
	if time.Since(v.since) < c.cfg.ReplicaReadDelay || c.mover.InProgress() > 0 {
		return // this copy may still lack writes from before the view change
	}
	primaries := map[string]bool{}
	for p := 0; p < v.ring.Partitions(); p++ {
		if set := v.ring.Replicas(p); slices.Contains(set[1:], c.cfg.Name) {
			primaries[set[0]] = true
		}
	}
	for name := range primaries {
		m, ok := v.members[name]
		if !ok {
			continue
		}
		l.mu.Lock()
		h := l.heldLocked(name)
		l.nonce++
		h.nonce, h.asked, h.askedV = l.nonce, l.now(), v.ring.Version()
		msg := leaseMsg{From: c.cfg.Name, Version: h.askedV, Nonce: h.nonce, Missed: h.missed}
		l.mu.Unlock()
		c.client.Go(context.Background(), m.Repl, methodLeaseAsk, &msg, c.cfg.RPCTimeout, func(error) {})
	}
}

// grant answers a backup's request (primary side): when the backup is a member of the same
// view and has missed no copy since its last clean anti-entropy round, promise and send the
// grant after every copy queued for it so far.
func (l *leases) grant(req *leaseMsg) {
	c := l.c
	v := c.view.Load()
	m, ok := v.members[req.From]
	if !l.enabled() || !ok || req.From == c.cfg.Name || req.Version != v.ring.Version() {
		return // a node with leases off promises nothing
	}
	g := l.grantee(req.From)
	g.send.Lock()
	defer g.send.Unlock()
	if req.Missed != g.missed {
		// The backup may lack a write whose ops it should have applied from an answer.
		g.missed = req.Missed
		g.failedAt.Store(l.now())
		return
	}
	if g.connecting.Load() > 0 || !c.client.Connected(m.Repl) {
		// A copy decided before this grant may still be waiting for a connection, and would
		// reach the backup after it; refuse, and connect for the next request.
		go c.client.Connect(context.Background(), m.Repl)
		return
	}
	// Checked after Connected: the copies lost with an earlier connection were failed (and
	// failedAt set) before this one was made.
	if f := g.failedAt.Load(); f != 0 && f >= g.syncedAt.Load() {
		return
	}
	g.until.Store(max(g.until.Load(), l.now()+int64(l.dur)))
	reply := leaseMsg{From: c.cfg.Name, Version: req.Version, Nonce: req.Nonce, Dur: int64(l.dur)}
	c.client.Go(context.Background(), m.Repl, methodLeaseGrant, &reply, c.cfg.RPCTimeout, func(error) {})
}

// heldLocked returns what this node holds from primary, made empty on first use; under mu.
func (l *leases) heldLocked(primary string) *held {
	h := l.held[primary]
	if h == nil {
		h = &held{}
		l.held[primary] = h
	}
	return h
}

// granted takes a lease from a primary (holder side) if it answers the outstanding request.
// It counts from when the request left, for the shorter of the two nodes' lease settings, and
// keeps a tenth back for clock rate differences.
func (l *leases) granted(msg *leaseMsg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.held[msg.From]
	if h == nil || h.nonce != msg.Nonce || h.askedV != msg.Version || msg.Dur <= 0 {
		return
	}
	h.until, h.version = h.asked+min(msg.Dur, int64(l.dur))*9/10, msg.Version
}

// holds reports whether this node holds a lease from primary for ring version.
func (l *leases) holds(primary string, version uint64) bool {
	return l.holdsAt(primary, version, l.now())
}

// holdsAt is holds at the lease clock's reading now (l.now, or l.at of a time taken earlier).
func (l *leases) holdsAt(primary string, version uint64, now int64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	h := l.held[primary]
	return h != nil && h.version == version && now < h.until
}

// dropAll gives up every lease held, as missed does for one primary: this node failed to
// apply a copy it was sent and cannot tell from whom.
func (l *leases) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.held {
		h.miss()
	}
}

// miss gives up the lease and every grant still on its way, and counts the miss for the next
// request, so that the primary grants none until anti-entropy has repaired this copy. A
// grant already sent (behind the very copy that failed) would otherwise restore the lease.
func (h *held) miss() {
	h.until, h.nonce = 0, 0
	h.missed++
}

// heldCount is the number of primaries whose leases this node holds now, for INFO.
func (l *leases) heldCount() int {
	v := l.c.view.Load()
	n := 0
	for name := range v.members {
		if l.holds(name, v.ring.Version()) {
			n++
		}
	}
	return n
}

// copyRead answers cmd from this node's copy when it holds a lease from the partition's
// primary and the copy has the answer.
func (c *cluster) copyRead(v *view, p int, primary string, cmd *sessions.Command) (sessions.Result, bool) {
	return c.copyReadAt(v, p, primary, cmd, time.Now())
}

// copyReadAt is copyRead with the clock read at now: a pipeline's reads share one reading
// (readNow also hands it to the store, as Command.At).
func (c *cluster) copyReadAt(v *view, p int, primary string, cmd *sessions.Command, now time.Time) (sessions.Result, bool) {
	if !c.copyReadableAt(v, p, primary, cmd, now) {
		return sessions.Result{}, false
	}
	res, ok := c.n.store.ReadCopy(cmd)
	if !ok {
		return res, false
	}
	c.n.stats.CopyReads.Add(1)
	if sessions.Touches(cmd.Kind) {
		c.leases.touch(primary, cmd.ID, now.UnixMilli())
	}
	return res, true
}

// copyReadable reports whether cmd may be tried on this node's copy of partition p.
func (c *cluster) copyReadable(v *view, p int, primary string, cmd *sessions.Command) bool {
	return c.copyReadableAt(v, p, primary, cmd, time.Now())
}

// copyReadableAt is copyReadable with the clock read at now.
func (c *cluster) copyReadableAt(v *view, p int, primary string, cmd *sessions.Command, now time.Time) bool {
	switch cmd.Kind {
	case sessions.KindPGet, sessions.KindPGetAll, sessions.KindTTL:
	default:
		return false
	}
	if !c.leases.enabled() || primary == c.cfg.Name || now.Sub(v.since) < c.cfg.ReplicaReadDelay {
		return false
	}
	return slices.Contains(v.ring.Replicas(p)[1:], c.cfg.Name) && c.leases.holdsAt(primary, v.ring.Version(), c.leases.at(now))
}

// touch notes a read answered from a copy at at (unix ms), for the primary's counters.
func (l *leases) touch(primary string, id sessions.ID, at int64) {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	t := l.touches[primary]
	if t == nil {
		t = &touchMsg{}
		l.touches[primary] = t
	}
	if len(t.At) < maxTouches {
		t.IDs, t.At = append(t.IDs, id[:]...), append(t.At, at)
	}
}

// flushTouches reports the reads noted since the last flush to their primaries.
func (l *leases) flushTouches() {
	l.tmu.Lock()
	out := l.touches
	if len(out) == 0 {
		l.tmu.Unlock()
		return
	}
	l.touches = map[string]*touchMsg{}
	l.tmu.Unlock()
	v := l.c.view.Load()
	for name, t := range out {
		if m, ok := v.members[name]; ok {
			l.c.client.Go(context.Background(), m.Repl, methodTouch, t, l.c.cfg.RPCTimeout, func(error) {})
		}
	}
}
