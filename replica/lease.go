package replica

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiongate/sessiongate/wire"
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
// A backup that forwarded a write whose call failed may lack it, though the primary counted
// it as acknowledged (it carries the ops, see Part.Carrier): it drops its lease from that
// primary (Missed) and its next request carries its count of misses, so that the primary
// grants none until anti-entropy has repaired the copy.

// leases is the Replicator's lease state.
type leases struct {
	fence atomic.Int64 // no write is acknowledged before this Clock reading

	mu       sync.RWMutex
	grantees map[string]*grantee // by backup name: what this node promised as a primary
	held     map[string]*held    // by primary name: what this node was granted as a backup
	nonce    uint64

	tmu     sync.Mutex
	touches map[string]*wire.TouchMsg // reads to report, by primary name
}

func (l *leases) init() {
	l.grantees, l.held, l.touches = map[string]*grantee{}, map[string]*held{}, map[string]*wire.TouchMsg{}
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
	missed     uint64 // the backup's count of failed forwards last heard; under send
}

// held is one primary as its backup sees it; all fields guarded by leases.mu.
type held struct {
	until   int64  // lease runs out
	version uint64 // ring version it was granted for
	asked   int64  // when the outstanding request was sent
	nonce   uint64 // of the outstanding request
	askedV  uint64
	missed  uint64 // forwarded calls to it that failed
}

// Held is what this node holds from one primary, or asked it for.
type Held struct {
	Until        int64  // Clock reading the lease runs out at; 0: none
	Version      uint64 // ring version it was granted for
	Asked        int64  // Clock reading the outstanding request was sent at
	Nonce        uint64 // of the outstanding request; 0: none outstanding
	AskedVersion uint64 // ring version of the outstanding request
	Missed       uint64 // forwarded calls to the primary that failed
}

// Enabled reports whether this node grants leases (ReadLease > 0); only then does it ask.
func (r *Replicator) Enabled() bool { return r.cfg.ReadLease > 0 }

// Now is the lease clock's reading.
func (r *Replicator) Now() int64 { return r.clock.Now() }

// grantee returns what this node promised backup name, made on first use.
func (r *Replicator) grantee(name string) *grantee {
	r.mu.RLock()
	g := r.grantees[name]
	r.mu.RUnlock()
	if g != nil {
		return g
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	g = r.grantees[name]
	if g == nil {
		g = &grantee{}
		r.grantees[name] = g
	}
	return g
}

// ViewChanged voids the leases of the old view: this node acknowledges no write until
// every lease it or another primary could have granted under it has run out.
func (r *Replicator) ViewChanged() {
	if r.Enabled() {
		r.fence.Store(r.clock.Now() + int64(r.cfg.ReadLease))
	}
}

// FenceWait is how long a write must still wait before it may be acknowledged.
func (r *Replicator) FenceWait() time.Duration {
	return time.Duration(r.fence.Load() - r.clock.Now())
}

// Synced notes that an anti-entropy round that started at the Clock reading started found
// backup name in sync: every copy it missed before then is repaired, and it may hold leases
// again.
func (r *Replicator) Synced(name string, started int64) {
	r.grantee(name).syncedAt.Store(started)
}

// Grant answers a backup's request (primary side): when the backup is a member of the same
// view and has missed no copy since its last clean anti-entropy round, promise and send the
// grant after every copy queued for it so far.
func (r *Replicator) Grant(ctx context.Context, req *wire.LeaseMsg) {
	v := r.cfg.View()
	addr, ok := v.Addr(req.From)
	if !r.Enabled() || !ok || req.From == r.cfg.Self || req.Version != v.Version() {
		return // a node with leases off promises nothing
	}
	g := r.grantee(req.From)
	g.send.Lock()
	defer g.send.Unlock()
	if req.Missed != g.missed {
		// The backup may lack a write whose ops it should have applied from an answer.
		g.missed = req.Missed
		g.failedAt.Store(r.clock.Now())
		return
	}
	if g.connecting.Load() > 0 || !r.cfg.Sender.Connected(addr) {
		// A copy decided before this grant may still be waiting for a connection, and would
		// reach the backup after it; refuse, and connect for the next request.
		go r.cfg.Sender.Connect(r.cfg.Life, addr)
		return
	}
	// Checked after Connected: the copies lost with an earlier connection were failed (and
	// failedAt set) before this one was made.
	if f := g.failedAt.Load(); f != 0 && f >= g.syncedAt.Load() {
		return
	}
	g.until.Store(max(g.until.Load(), r.clock.Now()+int64(r.cfg.ReadLease)))
	reply := wire.LeaseMsg{From: r.cfg.Self, Version: req.Version, Nonce: req.Nonce, Dur: int64(r.cfg.ReadLease)}
	r.cfg.Sender.Go(ctx, addr, wire.LeaseGrant, &reply, r.cfg.Timeout, func(error) {})
}

// heldLocked returns what this node holds from primary, made empty on first use; under mu.
func (r *Replicator) heldLocked(primary string) *held {
	h := r.held[primary]
	if h == nil {
		h = &held{}
		r.held[primary] = h
	}
	return h
}

// Granted takes a lease from a primary (holder side) if it answers the outstanding request.
// It counts from when the request left, for the shorter of the two nodes' lease settings, and
// keeps a tenth back for clock rate differences.
func (r *Replicator) Granted(msg *wire.LeaseMsg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.held[msg.From]
	if h == nil || h.nonce != msg.Nonce || h.askedV != msg.Version || msg.Dur <= 0 {
		return
	}
	h.until, h.version = h.asked+min(msg.Dur, int64(r.cfg.ReadLease))*9/10, msg.Version
}

// Holds reports whether this node holds a lease from primary for ring version.
func (r *Replicator) Holds(primary string, version uint64) bool {
	return r.holdsAt(primary, version, r.clock.Now())
}

// holdsAt is Holds at the Clock reading now.
func (r *Replicator) holdsAt(primary string, version uint64, now int64) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h := r.held[primary]
	return h != nil && h.version == version && now < h.until
}

// LeasesHeld is how many of primaries this node holds a lease from now, for the view version.
func (r *Replicator) LeasesHeld(version uint64, primaries []string) int {
	n := 0
	for _, p := range primaries {
		if r.Holds(p, version) {
			n++
		}
	}
	return n
}

// Held is a snapshot of what this node holds from each primary it asked, for INFO and tests.
func (r *Replicator) Held() map[string]Held {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]Held, len(r.held))
	for name, h := range r.held {
		out[name] = Held{Until: h.until, Version: h.version, Asked: h.asked, Nonce: h.nonce,
			AskedVersion: h.askedV, Missed: h.missed}
	}
	return out
}

// Readable reports whether this node may answer a read of partition p from its copy at now:
// it is a backup of p, the view is older than ReadDelay, and it holds a lease from primary
// for the view's ring. Which reads qualify is the caller's to say.
func (r *Replicator) Readable(v View, p int, primary string, now time.Time) bool {
	if !r.Enabled() || primary == r.cfg.Self || now.Sub(v.Since()) < r.cfg.ReadDelay {
		return false
	}
	return slices.Contains(v.Replicas(p)[1:], r.cfg.Self) && r.holdsAt(primary, v.Version(), r.clock.At(now))
}

// DropAll gives up every lease held, as Missed does for one primary: this node failed to
// apply a copy it was sent and cannot tell from whom.
func (r *Replicator) DropAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.held {
		h.miss()
	}
}

// Missed notes that a call forwarded to primary failed after it may have run there: this
// node's copy may lack the write, so it may not answer reads from it (holder side).
func (r *Replicator) Missed(primary string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.heldLocked(primary).miss()
}

// miss gives up the lease and every grant still on its way, and counts the miss for the next
// request, so that the primary grants none until anti-entropy has repaired this copy. A
// grant already sent (behind the very copy that failed) would otherwise restore the lease.
func (h *held) miss() {
	h.until, h.nonce = 0, 0
	h.missed++
}
