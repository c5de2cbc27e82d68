package node

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// partitionSync is one partition this node must pull after a view change.
type partitionSync struct {
	p     int
	from  map[string]bool // members that may hold it
	ready chan struct{}   // closed when done, if this node is the new primary
}

// startSyncs counts syncs as under way, before the view that calls for them can be read
// (so that no report finds a partition complete that is still being pulled), and runs them.
func (c *cluster) startSyncs(syncs []partitionSync, v *view) {
	if len(syncs) == 0 {
		return
	}
	for _, ps := range syncs {
		c.pulling[ps.p].Add(1)
	}
	go c.runSyncs(syncs, v)
}

// syncsInProgress is the number of partition syncs under way.
func (c *cluster) syncsInProgress() int64 {
	n := int64(0)
	for i := range c.pulling {
		n += int64(c.pulling[i].Load())
	}
	return n
}

// runSyncs pulls every partition this node gained from everyone who may hold a copy, then
// pulls once more a moment later for writes the previous primary accepted before it saw the
// new view.
func (c *cluster) runSyncs(syncs []partitionSync, v *view) {
	start := time.Now()
	// Partitions that answer nothing until synced go first.
	slices.SortStableFunc(syncs, func(a, b partitionSync) int {
		return cmp.Compare(boolInt(a.ready == nil), boolInt(b.ready == nil))
	})
	var wg sync.WaitGroup
	sem := make(chan struct{}, syncParallelism)
	for _, ps := range syncs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.pullFromAll(v, ps, func() {
				if ps.ready != nil {
					close(ps.ready)
				}
			})
			c.pulling[ps.p].Add(-1)
		}()
	}
	wg.Wait()
	took := time.Since(start)
	c.lastSyncMs.Store(took.Milliseconds())
	c.log.Info("partitions synced after ring change", "partitions", len(syncs), "took", took)
	select {
	case <-c.stop:
		return
	case <-time.After(time.Second):
	}
	for _, ps := range syncs {
		c.pullFromAll(v, ps, func() {})
	}
}

// syncParallelism bounds the partitions a node pulls at once after a view change.
const syncParallelism = 16

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// handoff is a partition to push and the member to push it to.
type handoff struct {
	p  int
	to string
}

// handoffPasses bounds how many times runHandoffs follows a partition's primary around.
const handoffPasses = 4

// runHandoffs pushes the partitions this node lost to their primaries, after HandoffDelay.
// The primary is looked up when a push starts, not taken from the view that lost the
// partition: views often change several times in a row (a healed partition's members reappear
// one by one), and a newer view makes no hand-off of its own for a partition this node was not
// primary of there. Dropping the push when the ring moved on lost such last writes (chaos:
// isolate, isolate-two). After each pass it waits HandoffDelay again and pushes once more
// wherever the primary has moved since (or a push failed), a few passes at most.
func (c *cluster) runHandoffs(parts []int) {
	var mu sync.Mutex
	pushed := map[int]string{} // partition -> where its last push landed
	start := time.Now()
	for pass := 0; pass < handoffPasses; pass++ {
		select {
		case <-c.stop:
			return
		case <-time.After(c.cfg.HandoffDelay): // commands started as primary finish meanwhile
		}
		v := c.view.Load()
		var todo []handoff
		for _, p := range parts {
			to := v.ring.Primary(p)
			if to != c.cfg.Name && to != pushed[p] { // primary again: the data is here
				todo = append(todo, handoff{p: p, to: to})
			}
		}
		if len(todo) == 0 {
			break
		}
		c.pushEach(todo, c.running, func(h handoff) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*c.cfg.RPCTimeout)
			defer cancel()
			if err := c.pushPartition(ctx, h.to, h.p); err != nil {
				c.log.Debug("hand-off to new primary failed", "partition", h.p, "to", h.to, "err", err)
				return
			}
			mu.Lock()
			pushed[h.p] = h.to
			mu.Unlock()
		})
	}
	c.log.Debug("handed lost partitions to their new primaries", "partitions", len(parts), "took", time.Since(start))
}

// running reports whether the cluster has not been stopped.
func (c *cluster) running() bool {
	select {
	case <-c.stop:
		return false
	default:
		return true
	}
}

// pushEach runs push for each hand-off, handoffParallelism at a time, starting no more once
// more reports false, and returns when all it started are done.
func (c *cluster) pushEach(hs []handoff, more func() bool, push func(handoff)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, handoffParallelism)
	for _, h := range hs {
		if !more() {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			push(h)
		}()
	}
	wg.Wait()
}

// pullFromAll pulls partition ps.p from every member in ps.from. Once each member has been
// tried once (with a short timeout), firstRound runs: a partition waiting to serve is not held
// up for long by a member that is alive in the view but not answering (paused, cut off).
// Members that failed are retried twice more, with longer timeouts, before it returns.
func (c *cluster) pullFromAll(v *view, ps partitionSync, firstRound func()) {
	var first, all sync.WaitGroup
	for m := range ps.from {
		addr := v.members[m].Repl
		first.Add(1)
		all.Add(1)
		go func() {
			defer all.Done()
			for attempt := 0; attempt < 3; attempt++ {
				timeout := 4 * c.cfg.RPCTimeout
				if attempt == 0 {
					timeout = c.cfg.RPCTimeout
				}
				err := c.pullPartition(addr, v, ps.p, timeout)
				if attempt == 0 {
					first.Done()
				}
				if err == nil {
					return
				} else if attempt == 2 {
					c.log.Warn("partition pull failed", "partition", ps.p, "from", m, "err", err)
				}
				select {
				case <-c.stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		}()
	}
	first.Wait()
	firstRound()
	all.Wait()
}

// intSlots widens slot numbers for the store.
func intSlots(slots []uint16) []int {
	out := make([]int, len(slots))
	for i, s := range slots {
		out[i] = int(s)
	}
	return out
}

// slotsOf lists the slots of partition p.
func slotsOf(partitions, p int) []uint16 {
	var out []uint16
	for s := p; s < sessions.Slots; s += partitions {
		out = append(out, uint16(s))
	}
	return out
}

func (c *cluster) pullPartition(addr string, v *view, p int, timeout time.Duration) error {
	for _, s := range slotsOf(v.ring.Partitions(), p) {
		if err := c.pullSlot(addr, int(s), timeout); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) pullSlot(addr string, slot int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var resp opsMsg
	if err := c.client.Call(ctx, addr, methodPull, pullMsg{Slot: slot}, &resp); err != nil {
		return err
	}
	for i := range resp.Ops {
		c.n.store.Apply(&resp.Ops[i])
	}
	return nil
}

// pushPartition sends this node's copy of partition p to member to, in batches.
func (c *cluster) pushPartition(ctx context.Context, to string, p int) error {
	if to == c.cfg.Name {
		return nil
	}
	v := c.view.Load()
	addr := v.members[to].Repl
	for _, s := range slotsOf(v.ring.Partitions(), p) {
		if err := c.pushSlot(ctx, addr, int(s)); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) pushSlot(ctx context.Context, addr string, slot int) error {
	var batch []sessions.Op
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, 4*c.cfg.RPCTimeout)
		defer cancel()
		err := c.client.Call(cctx, addr, methodApply, &opsMsg{Ops: batch}, nil)
		batch, size = batch[:0], 0
		return err
	}
	var err error
	c.n.store.SlotOps(slot, func(op *sessions.Op) {
		if err != nil {
			return
		}
		batch = append(batch, *op)
		size += 128 + len(op.Owner)
		for _, f := range op.Fields {
			size += len(f.Name) + len(f.Data)
		}
		if size > 1<<20 {
			err = flush()
		}
	})
	if err != nil {
		return err
	}
	return flush()
}

// every runs fn every d until the cluster stops. Each background duty gets its own clock, so a
// slow anti-entropy round cannot delay a drop or a re-join.
func (c *cluster) every(d time.Duration, fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
			fn()
		}
	}()
}

// dropUnheld forgets partitions this node has not held for DropAfter. Keeping them would
// waste memory and, worse, let a stale copy outlive the tombstones that end its sessions.
func (c *cluster) dropUnheld() {
	c.mu.Lock()
	var due []int
	for p, since := range c.unheld {
		if time.Since(since) >= c.cfg.DropAfter {
			due = append(due, p)
			// Stays listed: a copy that still arrives late (a peer acting on an older view) is
			// dropped on a later pass. A pass over slots that are already empty costs little.
			c.unheld[p] = time.Now()
		}
	}
	c.mu.Unlock()
	if len(due) == 0 {
		return
	}
	v := c.view.Load()
	dropped := 0
	for _, p := range due {
		if held, _ := v.ring.Holds(c.cfg.Name, p); held {
			continue
		}
		// Hand our copy to the holders first: if a holder missed it while syncing, this is
		// its last chance. Keep the copy and try later if any push fails.
		pushed := true
		for _, to := range v.ring.Replicas(p) {
			if err := c.pushPartition(context.Background(), to, p); err != nil {
				c.log.Debug("hand-off before drop failed; keeping the copy", "partition", p, "to", to, "err", err)
				pushed = false
			}
		}
		if !pushed {
			continue // listed still: retried after DropAfter
		}
		// Drop only if the view is still the one the pushes went by, and under mu so that no
		// view is installed meanwhile: a view that makes this node a holder again starts a
		// sync that must pull after the drop, never before it.
		c.mu.Lock()
		if c.view.Load() == v {
			for _, s := range slotsOf(v.ring.Partitions(), p) {
				dropped += c.n.store.DropSlot(int(s))
			}
		}
		c.mu.Unlock()
	}
	if dropped > 0 {
		c.log.Info("dropped partitions no longer held", "partitions", len(due), "sessions", dropped)
	}
}

// antiEntropyRound has each primary compare per-slot digests with its backups and exchange
// the slots that differ, so replicas converge whatever was lost on the way.
func (c *cluster) antiEntropyRound() (repaired int) {
	v := c.view.Load()
	started := c.repl.Now()
	unclean := map[string]bool{} // backups this round could not bring in sync
	complete := true
	for p := 0; p < v.ring.Partitions(); p++ {
		select {
		case <-c.stop:
			return repaired
		default:
		}
		if c.view.Load().ring != v.ring {
			// The ring moved: pushing by the old view would hand copies to nodes that no
			// longer hold (and may just have dropped) the partition. The next round uses the new view.
			complete = false
			break
		}
		set := v.ring.Replicas(p)
		if set[0] != c.cfg.Name || len(set) < 2 {
			continue
		}
		select {
		case <-v.ready[p]:
		default:
			for _, b := range set[1:] {
				unclean[b] = true
			}
			continue // still syncing
		}
		slots := slotsOf(v.ring.Partitions(), p)
		clean := true
		for _, b := range set[1:] {
			n, err := c.compareWith(v.members[b].Repl, slots)
			if err != nil {
				clean = false
				unclean[b] = true
				c.log.Debug("anti-entropy failed", "partition", p, "peer", b, "err", err)
				continue
			}
			repaired += n
		}
		if clean {
			c.dirty[p].Store(false)
		}
	}
	if complete {
		// Every copy a backup missed before the round started is repaired now: it may hold
		// read leases again (lease.go).
		for name := range v.members {
			if !unclean[name] && name != c.cfg.Name {
				c.repl.Synced(name, started)
			}
		}
	}
	if repaired > 0 {
		c.repairs.Add(uint64(repaired))
		c.log.Info("anti-entropy repaired slots", "slots", repaired)
	}
	return repaired
}

// compareWith exchanges the slots whose digests differ between this node and a peer.
func (c *cluster) compareWith(addr string, slots []uint16) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RPCTimeout)
	defer cancel()
	var resp digestMsg
	if err := c.client.Call(ctx, addr, methodDigest, digestMsg{Slots: slots}, &resp); err != nil {
		return 0, err
	}
	n := 0
	local := c.n.store.SlotDigests(intSlots(slots)) // one pass over the partition's shard
	for i, s := range slots {
		if i >= len(resp.Digests) || resp.Digests[i] == local[i] {
			continue
		}
		if err := c.pullSlot(addr, int(s), 4*c.cfg.RPCTimeout); err != nil {
			return n, err
		}
		if err := c.pushSlot(context.Background(), addr, int(s)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
