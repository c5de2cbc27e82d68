// Package replica replicates a primary's writes to its backups and keeps the read leases
// that let backups answer reads from their copies. A Replicator sends each write's copies
// (a Flight), counts their acknowledgements against the write-acks policy (package quorum),
// and holds writes back while a backup that may lack them could still answer reads: until
// its lease runs out, or, after a view change, until every lease of the old view has.
//
// It knows the cluster only through small interfaces: a Sender for the node-to-node calls,
// a View of the ring, a Clock. Routing and the store stay with the caller (package node).
package replica

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/sessiongate/sessiongate/quorum"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// Sender is what replication needs of a replication.Client.
type Sender interface {
	Go(ctx context.Context, addr string, m replication.Method, req any, timeout time.Duration, done func(error))
	Connected(addr string) bool
	Connect(ctx context.Context, addr string) error
}

// Pool runs functions off the caller's goroutine (a workpool.Pool).
type Pool interface {
	Go(fn func())
}

// View is one membership view, as replication sees it. It must not change once made: a
// flight keeps the view it started in.
type View interface {
	Version() uint64                           // the ring's version; leases name it
	Partitions() int                           // the ring's partition count
	Replicas(p int) []string                   // partition p's replica set, primary first
	Addr(member string) (addr string, ok bool) // a member's replication address
	Since() time.Time                          // when this node installed the view
}

// Config is what a Replicator is made with. Every field but Clock is required.
type Config struct {
	Self      string        // this node's name
	Acks      quorum.Acks   // the write-acks policy
	ReadLease time.Duration // lease length this node promises as a primary; <= 0: leases off
	ReadDelay time.Duration // how long after a view change no copy is read (ReplicaReadDelay)
	Timeout   time.Duration // of each call to a peer

	Sender Sender
	Pool   Pool  // runs the copies that must wait for a dial
	Clock  Clock // nil: the monotonic clock, from now
	// Life ends when the node shuts down. Copies, grants and dials go out under it rather
	// than under a writer's context: a write that ran here must reach its backups even when
	// its client has given up.
	Life context.Context

	View    func() View // the current view
	Syncing func() bool // whether a partition sync is under way here
	Dirty   func(p int) // a backup of partition p missed a copy
	// Local, if set, calls fn once every change this node's store has taken so far is
	// durable on its disk, or with why it cannot be (package disk). A write counts this
	// node's own copy only then.
	Local func(fn func(error))

	Replicated *atomic.Uint64 // ops sent to backups (a carrier's included)
	ReplFailed *atomic.Uint64 // op copies a backup did not acknowledge
}

// Replicator replicates this node's writes as a primary and keeps its read leases, as a
// primary (grants) and as a backup (leases held).
type Replicator struct {
	cfg   Config
	clock Clock
	leases
}

// New makes a Replicator. The fence starts closed for one lease length: a restarted node may
// have granted leases in its previous life.
func New(cfg Config) *Replicator {
	r := &Replicator{cfg: cfg, clock: cfg.Clock}
	if r.clock == nil {
		r.clock = NewMonoClock()
	}
	r.leases.init()
	r.fence.Store(r.clock.Now() + int64(cfg.ReadLease))
	return r
}

// Part is one partition's share of the ops to replicate: one write's, or those of every
// write a pipeline made there.
type Part struct {
	P   int
	Ops []sessions.Op
	// Carrier, when not empty, is a backup that gets the ops in the answer to the commands it
	// forwarded instead of a copy: it counts as acknowledged and is not waited for.
	Carrier string
}

// Replicate sends ops to partition p's backups and returns once the write-acks policy is
// met and every backup holding a read lease has applied them (or its lease ran out), or a
// retryable error once that cannot be, or ctx ends. Copies still in flight when it returns
// go on in the background.
func (r *Replicator) Replicate(ctx context.Context, v View, p int, ops []sessions.Op, carrier string) error {
	f := r.Start(v, []Part{{P: p, Ops: ops, Carrier: carrier}})
	f.Wait(ctx)
	return f.errs[0]
}

// sendCopy queues one backup's copy and notes the lease it held when the copy was queued.
// f.ack gets the copy's outcome once, on whatever goroutine learns it.
func (r *Replicator) sendCopy(v View, f *Flight, i int) {
	t := f.targets[i]
	g := r.grantee(t.name)
	addr, _ := v.Addr(t.name)
	n := uint64(len(t.ops))
	answered := func(err error) {
		r.cfg.Replicated.Add(n)
		if err != nil {
			r.cfg.ReplFailed.Add(n)
			for _, k := range t.parts {
				r.cfg.Dirty(f.parts[k].P)
			}
			g.failedAt.Store(r.clock.Now())
		}
		f.ack(i, err)
	}
	msg := &wire.OpsMsg{Ops: t.ops}
	// Under g.send, so that a lease granted after this point finds the copy queued ahead.
	g.send.Lock()
	defer g.send.Unlock()
	if until := g.until.Load(); until > r.clock.Now() {
		t.lease = until
	}
	if r.cfg.Sender.Connected(addr) {
		r.cfg.Sender.Go(r.cfg.Life, addr, wire.Apply, msg, r.cfg.Timeout, answered)
		return
	}
	// A dial may take the call timeout (a cut-off peer): not on this path, where it would
	// hold up the copies to the other backups. No lease is granted meanwhile.
	g.connecting.Add(1)
	r.cfg.Pool.Go(func() {
		r.cfg.Sender.Go(r.cfg.Life, addr, wire.Apply, msg, r.cfg.Timeout, answered)
		g.connecting.Add(-1)
	})
}
