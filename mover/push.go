package mover

import (
	"context"
	"sync"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// Limits of hand-off: pushes at once, passes after a lost partition's primary, and tries of
// one push when leaving.
const (
	handoffParallelism = 16
	handoffPasses      = 4
	leavePushAttempts  = 4
)

// pushBatchBytes bounds one message of a push.
const pushBatchBytes = 1 << 20

// Handoff is a partition to push and the member to push it to.
type Handoff struct {
	P  int
	To string
}

// HandOff pushes the partitions this node lost to their primaries, after HandoffDelay, in
// the background. The primary is looked up when a push starts, not taken from the view that
// lost the partition: views often change several times in a row (a healed partition's
// members reappear one by one), and a newer view makes no hand-off of its own for a partition
// this node was not primary of there. After each pass it waits HandoffDelay again and pushes
// once more wherever the primary has moved since (or a push failed), a few passes at most.
func (m *Mover) HandOff(parts []int) {
	go func() {
		var mu sync.Mutex
		pushed := map[int]string{} // partition -> where its last push landed
		start := time.Now()
		for pass := 0; pass < handoffPasses; pass++ {
			if !m.sleep(m.cfg.HandoffDelay) {
				return
			}
			v := m.cfg.Current()
			var todo []Handoff
			for _, p := range parts {
				to := v.Ring().Primary(p)
				if to != m.cfg.Self && to != pushed[p] { // primary again: the data is here
					todo = append(todo, Handoff{P: p, To: to})
				}
			}
			if len(todo) == 0 {
				break
			}
			m.pushEach(todo, m.running, func(h Handoff) {
				ctx, cancel := context.WithTimeout(m.life, 10*m.cfg.RPCTimeout)
				defer cancel()
				if err := m.push(ctx, h); err != nil {
					m.log.Debug("hand-off to new primary failed", "partition", h.P, "to", h.To, "err", err)
					return
				}
				mu.Lock()
				pushed[h.P] = h.To
				mu.Unlock()
			})
		}
		m.log.Debug("handed lost partitions to their new primaries", "partitions", len(parts), "took", time.Since(start))
	}()
}

// Leave pushes each hand-off of a leaving node, in parallel, retrying a failed push a few
// times: this copy may be the only one of the last writes. It returns when all are done or
// ctx ends. While it lasts, the partitions answer TRYAGAIN, so its length is downtime.
func (m *Mover) Leave(ctx context.Context, hs []Handoff) {
	m.pushEach(hs, func() bool { return ctx.Err() == nil }, func(h Handoff) {
		for attempt := 1; ; attempt++ {
			err := m.push(ctx, h)
			if err == nil {
				return
			}
			if attempt == leavePushAttempts || ctx.Err() != nil {
				m.log.Warn("hand-off failed", "partition", h.P, "to", h.To, "attempts", attempt, "err", err)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
}

// pushEach runs push for each hand-off, handoffParallelism at a time, starting no more once
// more reports false, and returns when all it started are done.
func (m *Mover) pushEach(hs []Handoff, more func() bool, push func(Handoff)) {
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

// push sends this node's copy of partition h.P to member h.To, in batches, at the address
// the current view gives.
func (m *Mover) push(ctx context.Context, h Handoff) error {
	if h.To == m.cfg.Self {
		return nil
	}
	v := m.cfg.Current()
	addr, _ := v.Addr(h.To)
	for _, s := range slotsOf(v.Ring().Partitions(), h.P) {
		if err := m.pushSlot(ctx, addr, int(s)); err != nil {
			return err
		}
	}
	return nil
}

func (m *Mover) pushSlot(ctx context.Context, addr string, slot int) error {
	var batch []sessions.Op
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, 4*m.cfg.RPCTimeout)
		defer cancel()
		err := m.peers.Push(cctx, addr, batch)
		batch, size = batch[:0], 0
		return err
	}
	var err error
	m.store.SlotOps(slot, func(op *sessions.Op) {
		if err != nil {
			return
		}
		batch = append(batch, *op)
		size += 128 + len(op.Owner)
		for _, f := range op.Fields {
			size += len(f.Name) + len(f.Data)
		}
		if size > pushBatchBytes {
			err = flush()
		}
	})
	if err != nil {
		return err
	}
	return flush()
}
