package replica

import (
	"slices"
	"sync"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/quorum"
	"github.com/sessiongate/sessiongate/sessions"
)

// A Flight is the replication of one write, or of a group of writes: copies sent to the
// backups, and the acknowledgements and read leases each partition still waits for. Its
// outcome is learned one of two ways. Wait blocks the goroutine that started it until every
// partition is decided (Replicate, a pipeline's group). WhenDone blocks nobody: the goroutine
// that learns the last outcome it needs (an acknowledgement's, a lease's running out, the
// deadline's) runs the continuation, and a forwarded write is answered from there without a
// worker. A flight uses one way or the other, never both.
//
// Until WhenDone, only the goroutine that started it (then the one that waits) touches it,
// and answers come through results; after WhenDone, everything is under mu.
type Flight struct {
	r       *Replicator
	parts   []Part
	errs    []error
	targets []*copyTarget
	waits   []partWait
	results chan copyAck
	alone   bool // no partition has a backup: no copy to wait for, nor any lease
	// local is this node's own copy on disk (Config.Local): 0 waiting, 1 durable, -1
	// failed with localErr; 1 when there is no disk.
	local    int8
	localErr error

	mu       sync.Mutex
	onDone   func() // set by WhenDone: the flight decides itself
	timer    *time.Timer
	stop     func() bool // ends the deadline's watch
	finished bool
}

// copyTarget is one backup a flight sends to.
type copyTarget struct {
	name  string
	ops   []sessions.Op
	parts []int // indexes of the parts it holds
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

// copyAck is one backup's answer to its copy; i is localAck for this node's own disk.
type copyAck struct {
	i   int
	err error
}

// Start sends each backup its copy and returns without waiting for any answer. Several
// partitions replicate at once (group commit): each backup gets one message holding every
// op it must apply, and each partition's error says what replicating it alone would have
// said. A pipeline of writes through one primary so costs each backup one copy and one
// acknowledgement.
func (r *Replicator) Start(v View, parts []Part) *Flight {
	f := &Flight{r: r, parts: parts, errs: make([]error, len(parts)), waits: make([]partWait, len(parts))}
	for k, part := range parts {
		set := v.Replicas(part.P)
		w := &f.waits[k]
		w.backups = len(set) - 1
		w.need = r.cfg.Acks.Needed(len(set)) - 1
		for _, b := range set[1:] {
			if b == part.Carrier {
				w.carried = 1
				r.cfg.Replicated.Add(uint64(len(part.Ops)))
				continue
			}
			ti := slices.IndexFunc(f.targets, func(t *copyTarget) bool { return t.name == b })
			if ti < 0 {
				ti = len(f.targets)
				f.targets = append(f.targets, &copyTarget{name: b})
			}
			t := f.targets[ti]
			t.ops = append(t.ops, part.Ops...)
			t.parts = append(t.parts, k)
			w.targets = append(w.targets, ti)
		}
	}
	f.alone = !slices.ContainsFunc(f.waits, func(w partWait) bool { return w.backups > 0 })
	f.local = 1
	if r.cfg.Local != nil {
		f.local = 0
	}
	if len(f.targets) == 0 && f.local == 1 {
		return f
	}
	f.results = make(chan copyAck, len(f.targets)+1)
	for i := range f.targets {
		r.sendCopy(v, f, i)
	}
	if f.local == 0 {
		r.cfg.Local(func(err error) { f.ack(localAck, err) })
	}
	return f
}

// localAck is the index of this node's own disk in a copyAck.
const localAck = -1

// Err is part k's outcome: nil, or the retryable error replicating it met. It is set once
// Wait has returned or WhenDone's continuation runs (or Done reported true).
func (f *Flight) Err(k int) error { return f.errs[k] }

// Carrier is part k's carrier, as started.
func (f *Flight) Carrier(k int) string { return f.parts[k].Carrier }

// ack takes one backup's answer, on whatever goroutine learns it.
func (f *Flight) ack(i int, err error) {
	f.mu.Lock()
	if f.onDone == nil {
		// Sent under mu, so that WhenDone, which drains results under mu, misses none.
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

// count tallies a partition's wait: its backups acknowledged, failed, and holding a read lease.
func (f *Flight) count(w *partWait) quorum.Wait {
	q := quorum.Wait{Backups: w.backups, Need: w.need, Acked: w.carried}
	for _, ti := range w.targets {
		t := f.targets[ti]
		switch t.state {
		case 1:
			q.Acked++
		case -1:
			q.Failed++ // a leased backup that failed still counts until its lease runs out
		}
		if t.lease != 0 {
			q.Leased++
		}
	}
	return q
}

// settle takes in the answers that have come and decides every partition it can; it
// reports whether all are decided.
func (f *Flight) settle() bool {
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
		if f.local == -1 {
			f.errs[k], w.done = f.localErr, true
			continue
		}
		switch q := f.count(w); q.Decide() {
		case quorum.Failed:
			f.errs[k] = api.TryAgainf("write reached %d of %d replicas of partition %d; %s needs %d",
				q.Acked+1, w.backups+1, f.parts[k].P, f.r.cfg.Acks, w.need+1)
			w.done = true
		case quorum.OK:
			if w.done = f.local == 1; !w.done {
				all = false
			}
		default:
			all = false
		}
	}
	return all
}

// take notes one backup's answer.
func (f *Flight) take(a copyAck) {
	if a.i == localAck {
		f.local, f.localErr = 1, a.err
		if a.err != nil {
			f.local = -1
		}
		return
	}
	t := f.targets[a.i]
	if a.err == nil {
		t.state, t.lease = 1, 0
	} else {
		t.state = -1
	}
}

// Done reports whether the flight needs no wait at all: every partition decided, and no
// lease of a previous view to wait out. A write whose flight is done may be answered at
// once. Only before WhenDone.
func (f *Flight) Done() bool {
	return f.settle() && f.fence() <= 0
}

// fence is how long a decided flight must still wait: just after a view change, a backup
// still on the old view may hold a lease. A flight with no backup has no lease to wait out.
func (f *Flight) fence() time.Duration {
	if f.alone {
		return 0
	}
	return f.r.FenceWait()
}

// firstLease is when the first outstanding read lease runs out, or 0.
func (f *Flight) firstLease() int64 {
	first := int64(0)
	for _, t := range f.targets {
		if t.lease != 0 && (first == 0 || t.lease < first) {
			first = t.lease
		}
	}
	return first
}

// expireLeases drops the leases that have run out: their holders no longer count.
func (f *Flight) expireLeases() {
	now := f.r.clock.Now()
	for _, t := range f.targets {
		if t.lease != 0 && t.lease <= now {
			t.lease = 0
			f.r.grantee(t.name).failedAt.Store(now) // no new lease until in sync
		}
	}
}

// timedOut fails what is still undecided when the deadline has come.
func (f *Flight) timedOut() {
	settled := true
	for k := range f.waits {
		if w := &f.waits[k]; !w.done {
			settled = false
			q := f.count(w)
			if q.Decide() == quorum.OK { // only this node's disk was still to answer
				f.errs[k] = api.TryAgainf("partition %d: the write was not on this node's disk before the deadline", f.parts[k].P)
				continue
			}
			f.errs[k] = api.TryAgainf("write reached %d of %d replicas of partition %d before the deadline; %s needs %d",
				q.Acked+1, w.backups+1, f.parts[k].P, f.r.cfg.Acks, w.need+1)
		}
	}
	if settled { // what was left is the fence
		for k := range f.parts {
			if f.errs[k] == nil {
				f.errs[k] = api.TryAgainf("partition %d: waiting out the read leases of the previous view", f.parts[k].P)
			}
		}
	}
}
