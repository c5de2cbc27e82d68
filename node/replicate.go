package node

import (
	"context"
	"slices"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// partOps is one partition's share of the ops to replicate: one write's, or those of every
// write a pipeline made there.
type partOps struct {
	p   int
	ops []sessions.Op
	// carrier, when not empty, is a backup that gets the ops in the answer to the commands it
	// forwarded instead of a copy (via.go): it counts as acknowledged and is not waited for.
	carrier string
}

// replicate sends ops to the partition's backups and returns once the write-acks policy is
// met and every backup holding a read lease has applied them (or its lease ran out), or a
// retryable error once that cannot be. Copies are queued on the caller's goroutine and
// answered by callback; those still in flight when it returns go on in the background.
func (c *cluster) replicate(ctx context.Context, v *view, p int, ops []sessions.Op, carrier string) error {
	return c.replicateAll(ctx, v, []partOps{{p: p, ops: ops, carrier: carrier}})[0]
}

// copyTarget is one backup a replicateAll call sends to.
type copyTarget struct {
	name  string
	ops   []sessions.Op
	parts []int // indexes of the partOps it holds
	lease int64 // when its read lease runs out; 0: holds none, or it applied the copy
	state int8  // 0 waiting, 1 acknowledged, -1 failed
}

// partWait is what one partition of a replicateAll call still waits for.
type partWait struct {
	targets []int // indexes into the targets, the carrier left out
	backups int   // the partition's backups, carrier included
	need    int   // acknowledgements needed beyond the primary's own
	carried int   // 1 when the carrier is one of the backups
	done    bool
}

// replicateAll is replicate for several partitions at once (group commit): each backup gets
// one message holding every op it must apply, instead of one per write, and each
// partition's error says what replicate would have said for it alone. A pipeline of writes
// through one primary so costs each backup one copy and one acknowledgement.
func (c *cluster) replicateAll(ctx context.Context, v *view, parts []partOps) []error {
	f := c.startReplication(v, parts)
	f.wait(ctx)
	return f.errs
}

// flight is one replicateAll call's copies, sent, and what it still waits for. Its methods
// run on one goroutine at a time: the one that started it, then whichever waits.
type flight struct {
	c       *cluster
	parts   []partOps
	errs    []error
	targets []*copyTarget
	waits   []partWait
	results chan copyAck
	alone   bool // no partition has a backup: no copy to wait for, nor any lease
}

// copyAck is one backup's answer to its copy.
type copyAck struct {
	i   int
	err error
}

// startReplication sends each backup its copy and returns without waiting for any answer.
func (c *cluster) startReplication(v *view, parts []partOps) *flight {
	f := &flight{c: c, parts: parts, errs: make([]error, len(parts)), waits: make([]partWait, len(parts))}
	for k, part := range parts {
		set := v.ring.Replicas(part.p)
		w := &f.waits[k]
		w.backups = len(set) - 1
		w.need = c.cfg.WriteAcks.needed(len(set)) - 1
		for _, b := range set[1:] {
			if b == part.carrier {
				w.carried = 1
				c.n.stats.Replicated.Add(uint64(len(part.ops)))
				continue
			}
			ti := slices.IndexFunc(f.targets, func(t *copyTarget) bool { return t.name == b })
			if ti < 0 {
				ti = len(f.targets)
				f.targets = append(f.targets, &copyTarget{name: b})
			}
			t := f.targets[ti]
			t.ops = append(t.ops, part.ops...)
			t.parts = append(t.parts, k)
			w.targets = append(w.targets, ti)
		}
	}
	f.alone = !slices.ContainsFunc(f.waits, func(w partWait) bool { return w.backups > 0 })
	if len(f.targets) == 0 {
		return f
	}
	f.results = make(chan copyAck, len(f.targets))
	for i, t := range f.targets {
		c.sendCopy(v, i, t, parts, func(i int, err error) { f.results <- copyAck{i, err} })
	}
	return f
}

// count tallies a partition's backups: acknowledged, failed, and holding a read lease.
func (f *flight) count(w *partWait) (acked, failed, leased int) {
	acked = w.carried
	for _, ti := range w.targets {
		t := f.targets[ti]
		switch t.state {
		case 1:
			acked++
		case -1:
			failed++ // a leased backup that failed still counts until its lease runs out
		}
		if t.lease != 0 {
			leased++
		}
	}
	return acked, failed, leased
}

// settle takes in the answers that have come and decides every partition it can; it
// reports whether all are decided.
func (f *flight) settle() bool {
	for more := f.results != nil; more; {
		select {
		case a := <-f.results:
			f.take(a)
		default:
			more = false
		}
	}
	all := true
	for k := range f.waits {
		w := &f.waits[k]
		if w.done {
			continue
		}
		acked, failed, leased := f.count(w)
		switch {
		case w.backups-failed < w.need:
			f.errs[k] = tryAgain("write reached %d of %d replicas of partition %d; %s needs %d",
				acked+1, w.backups+1, f.parts[k].p, f.c.cfg.WriteAcks, w.need+1)
			w.done = true
		case acked >= w.need && leased == 0:
			w.done = true
		default:
			all = false
		}
	}
	return all
}

// take notes one backup's answer.
func (f *flight) take(a copyAck) {
	t := f.targets[a.i]
	if a.err == nil {
		t.state, t.lease = 1, 0
	} else {
		t.state = -1
	}
}

// done reports whether the flight needs no wait at all: every partition decided, and no
// lease of a previous view to wait out. A write whose flight is done may be answered at once.
func (f *flight) done() bool {
	return f.settle() && (f.alone || f.c.leases.fenceWait() <= 0)
}

// wait waits until every partition is decided, or ctx ends, and leaves the outcome in errs.
func (f *flight) wait(ctx context.Context) {
	c := f.c
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for !f.settle() {
		// Wake when the first outstanding lease runs out: its holder no longer counts.
		var expiry <-chan time.Time
		first := int64(0)
		for _, t := range f.targets {
			if t.lease != 0 && (first == 0 || t.lease < first) {
				first = t.lease
			}
		}
		if first != 0 {
			wait := time.Duration(first-c.leases.now()) + time.Millisecond
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			expiry = timer.C
		}
		select {
		case a := <-f.results:
			f.take(a)
		case <-expiry:
			now := c.leases.now()
			for _, t := range f.targets {
				if t.lease != 0 && t.lease <= now {
					t.lease = 0
					c.leases.grantee(t.name).failedAt.Store(now) // no new lease until in sync
				}
			}
		case <-ctx.Done():
			for k := range f.waits {
				if w := &f.waits[k]; !w.done {
					acked, _, _ := f.count(w)
					f.errs[k] = tryAgain("write reached %d of %d replicas of partition %d before the deadline; %s needs %d",
						acked+1, w.backups+1, f.parts[k].p, c.cfg.WriteAcks, w.need+1)
				}
			}
			return
		}
	}
	if wait := c.leases.fenceWait(); wait > 0 && !f.alone {
		// Just after a view change: a backup still on the old view may hold a lease.
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			for k := range f.parts {
				if f.errs[k] == nil {
					f.errs[k] = tryAgain("partition %d: waiting out the read leases of the previous view", f.parts[k].p)
				}
			}
		}
	}
}

// sendCopy queues one backup's copy and notes the lease it held when the copy was queued.
// done is called once with the copy's outcome, on whatever goroutine learns it.
func (c *cluster) sendCopy(v *view, i int, t *copyTarget, parts []partOps, done func(int, error)) {
	g, addr := c.leases.grantee(t.name), v.members[t.name].Repl
	n := uint64(len(t.ops))
	answered := func(err error) {
		c.n.stats.Replicated.Add(n)
		if err != nil {
			c.n.stats.ReplFailed.Add(n)
			for _, k := range t.parts {
				c.dirty[parts[k].p].Store(true)
			}
			g.failedAt.Store(c.leases.now())
		}
		done(i, err)
	}
	msg := &opsMsg{Ops: t.ops}
	// Under g.send, so that a lease granted after this point finds the copy queued ahead.
	g.send.Lock()
	defer g.send.Unlock()
	if until := g.until.Load(); until > c.leases.now() {
		t.lease = until
	}
	if c.client.Connected(addr) {
		c.client.Go(context.Background(), addr, methodApply, msg, c.cfg.RPCTimeout, answered)
		return
	}
	// A dial may take the RPC timeout (a cut-off peer): not on this path, where it would hold
	// up the copies to the other backups. No lease is granted meanwhile.
	g.connecting.Add(1)
	c.pool.Go(func() {
		c.client.Go(context.Background(), addr, methodApply, msg, c.cfg.RPCTimeout, answered)
		g.connecting.Add(-1)
	})
}

// replicateBackground ships ops (idle expiries) without waiting.
func (c *cluster) replicateBackground(ops []sessions.Op) {
	v := c.view.Load()
	byPart := map[int][]sessions.Op{}
	for _, op := range ops {
		p := v.ring.PartitionOfSlot(op.Slot())
		byPart[p] = append(byPart[p], op)
	}
	for p, ops := range byPart {
		go c.replicate(context.Background(), v, p, ops, "")
	}
}
