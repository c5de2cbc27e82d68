package replica

import (
	"context"
	"slices"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// TouchEvery is how often reads answered from copies are reported to their primaries.
const TouchEvery = 100 * time.Millisecond

// maxTouches bounds the reads waiting to be reported to one primary; beyond it they are
// dropped (counters are advisory; a primary that does not hear them keeps serving).
const maxTouches = 1 << 16

// Ask requests leases from this node's primaries (holder side, every ReadLease/4). It asks
// none while its copies may lack writes: just after a view change, or during a sync.
func (r *Replicator) Ask(ctx context.Context) {
	v := r.cfg.View()
	if time.Duration(r.clock.Now()-r.clock.At(v.Since())) < r.cfg.ReadDelay || r.cfg.Syncing() {
		return // this copy may still lack writes from before the view change
	}
	primaries := map[string]bool{}
	for p := 0; p < v.Partitions(); p++ {
		if set := v.Replicas(p); slices.Contains(set[1:], r.cfg.Self) {
			primaries[set[0]] = true
		}
	}
	for name := range primaries {
		addr, ok := v.Addr(name)
		if !ok {
			continue
		}
		r.mu.Lock()
		h := r.heldLocked(name)
		r.nonce++
		h.nonce, h.asked, h.askedV = r.nonce, r.clock.Now(), v.Version()
		msg := wire.LeaseMsg{From: r.cfg.Self, Version: h.askedV, Nonce: h.nonce, Missed: h.missed}
		r.mu.Unlock()
		r.cfg.Sender.Go(ctx, addr, wire.LeaseAsk, &msg, r.cfg.Timeout, func(error) {})
	}
}

// Touch notes a read answered from a copy at at (unix ms), for the primary's counters.
func (r *Replicator) Touch(primary string, id sessions.ID, at int64) {
	r.tmu.Lock()
	defer r.tmu.Unlock()
	t := r.touches[primary]
	if t == nil {
		t = &wire.TouchMsg{}
		r.touches[primary] = t
	}
	if len(t.At) < maxTouches {
		t.IDs, t.At = append(t.IDs, id[:]...), append(t.At, at)
	}
}

// FlushTouches reports the reads noted since the last flush to their primaries.
func (r *Replicator) FlushTouches(ctx context.Context) {
	r.tmu.Lock()
	out := r.touches
	if len(out) == 0 {
		r.tmu.Unlock()
		return
	}
	r.touches = map[string]*wire.TouchMsg{}
	r.tmu.Unlock()
	v := r.cfg.View()
	for name, t := range out {
		if addr, ok := v.Addr(name); ok {
			r.cfg.Sender.Go(ctx, addr, wire.Touch, t, r.cfg.Timeout, func(error) {})
		}
	}
}
