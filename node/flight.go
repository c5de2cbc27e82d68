package node

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// A flight is the replication of one write, or of a group of writes: copies sent to the
// backups, and the acknowledgements and read leases each partition still waits for. Its
// outcome is learned one of two ways. wait blocks the goroutine that started it until every
// partition is decided (replicate, a pipeline's group). whenDone blocks nobody: the goroutine
// that learns the last outcome it needs (an acknowledgement's, a lease's running out, the
// deadline's) runs the continuation, and a forwarded write is answered from there without a
// worker (inline.go). A flight uses one way or the other, never both.

// copyTarget is one backup a flight sends to.
type copyTarget struct {
	name  string
	ops   []sessions.Op
	parts []int // indexes of the partOps it holds
	lease int64 // when its read lease runs out; 0: holds none, or it applied the copy
	state int8  // 0 waiting, 1 acknowledged, -1 failed
}

// partWait is what one partition of a flight still waits for.
type partWait struct {
	targets []int // indexes into the targets, the carrier left out
	backups int   // the partition's backups, carrier included
	need    int   // acknowledgements needed beyond the primary's own
	carried int   // 1 when the carrier is one of the backups
	done    bool
}

// flight is one replication's copies, sent, and what it still waits for. Until whenDone,
// only the goroutine that started it (then the one that waits) touches it, and answers come
// through results; after whenDone, everything is under mu.
type flight struct {
	c       *cluster
	parts   []partOps
	errs    []error
	targets []*copyTarget
	waits   []partWait
	results chan copyAck
	alone   bool // no partition has a backup: no copy to wait for, nor any lease

	mu       sync.Mutex
	onDone   func() // set by whenDone: the flight decides itself
	timer    *time.Timer
	stop     func() bool // ends the deadline's watch
	finished bool
}

// copyAck is one backup's answer to its copy.
type copyAck struct {
	i   int
	err error
}

// startReplication sends each backup its copy and returns without waiting for any answer.
// Several partitions replicate at once (group commit): each backup gets one message holding
// every op it must apply, and each partition's error says what replicating it alone would
// have said. A pipeline of writes through one primary so costs each backup one copy and one
// acknowledgement.
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
		c.sendCopy(v, i, t, parts, f.ack)
	}
	return f
}

// ack takes one backup's answer, on whatever goroutine learns it.
func (f *flight) ack(i int, err error) {
	f.mu.Lock()
	if f.onDone == nil {
		// Sent under mu, so that whenDone, which drains results under mu, misses none.
		// Never blocks: results holds one answer per target.
		f.results <- copyAck{i, err}
		f.mu.Unlock()
		return
	}
	f.take(copyAck{i, err})
	fn := f.decideLocked()
	f.mu.Unlock()
	if fn != nil {
		fn()
	}
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
	return f.settle() && f.fence() <= 0
}

// fence is how long a decided flight must still wait: just after a view change, a backup
// still on the old view may hold a lease. A flight with no backup has no lease to wait out.
func (f *flight) fence() time.Duration {
	if f.alone {
		return 0
	}
	return f.c.leases.fenceWait()
}

// firstLease is when the first outstanding read lease runs out, or 0.
func (f *flight) firstLease() int64 {
	first := int64(0)
	for _, t := range f.targets {
		if t.lease != 0 && (first == 0 || t.lease < first) {
			first = t.lease
		}
	}
	return first
}

// expireLeases drops the leases that have run out: their holders no longer count.
func (f *flight) expireLeases() {
	now := f.c.leases.now()
	for _, t := range f.targets {
		if t.lease != 0 && t.lease <= now {
			t.lease = 0
			f.c.leases.grantee(t.name).failedAt.Store(now) // no new lease until in sync
		}
	}
}

// timedOut fails what is still undecided when the deadline has come.
func (f *flight) timedOut() {
	settled := true
	for k := range f.waits {
		if w := &f.waits[k]; !w.done {
			settled = false
			acked, _, _ := f.count(w)
			f.errs[k] = tryAgain("write reached %d of %d replicas of partition %d before the deadline; %s needs %d",
				acked+1, w.backups+1, f.parts[k].p, f.c.cfg.WriteAcks, w.need+1)
		}
	}
	if settled { // what was left is the fence
		for k := range f.parts {
			if f.errs[k] == nil {
				f.errs[k] = tryAgain("partition %d: waiting out the read leases of the previous view", f.parts[k].p)
			}
		}
	}
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
		if first := f.firstLease(); first != 0 {
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
			f.expireLeases()
		case <-ctx.Done():
			f.timedOut()
			return
		}
	}
	if wait := f.fence(); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			f.timedOut()
		}
	}
}

// whenDone has the flight call fn once it is decided, on whichever goroutine decides it
// (this one, if it already is), or once ctx ends with what is undecided failed. errs is
// fn's to read.
func (f *flight) whenDone(ctx context.Context, fn func()) {
	f.mu.Lock()
	f.onDone = fn
	if run := f.decideLocked(); run != nil {
		f.mu.Unlock()
		run()
		return
	}
	f.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		if f.finished {
			f.mu.Unlock()
			return
		}
		f.timedOut()
		run := f.finishLocked()
		f.mu.Unlock()
		run()
	})
	f.mu.Lock()
	if f.finished {
		f.mu.Unlock()
		stop()
		return
	}
	f.stop = stop
	f.mu.Unlock()
}

// decideLocked decides what it can and returns onDone when the flight is over, or nil,
// with a timer set for what it waits on next: a lease's end, or the fence's.
func (f *flight) decideLocked() func() {
	if f.finished {
		return nil
	}
	var wait time.Duration
	if !f.settle() {
		first := f.firstLease()
		if first == 0 {
			return nil // only acknowledgements to wait for
		}
		wait = time.Duration(first-f.c.leases.now()) + time.Millisecond
	} else if fence := f.fence(); fence > 0 {
		wait = fence
	} else {
		return f.finishLocked()
	}
	if f.timer == nil {
		f.timer = time.AfterFunc(wait, f.tick)
	} else {
		f.timer.Reset(wait)
	}
	return nil
}

// tick is the timer's: a lease or the fence may have run out.
func (f *flight) tick() {
	f.mu.Lock()
	if f.finished { // stopped too late
		f.mu.Unlock()
		return
	}
	f.expireLeases()
	run := f.decideLocked()
	f.mu.Unlock()
	if run != nil {
		run()
	}
}

// finishLocked marks the flight over, stops its watches and returns onDone.
func (f *flight) finishLocked() func() {
	f.finished = true
	if f.timer != nil {
		f.timer.Stop()
	}
	if f.stop != nil {
		f.stop()
	}
	return f.onDone
}
