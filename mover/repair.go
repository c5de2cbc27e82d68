package mover

import (
	"context"
	"time"

	"github.com/sessiongate/sessiongate/ring"
	"github.com/sessiongate/sessiongate/sessions"
)

// AntiEntropy has each partition this node is primary of compare per-slot digests with its
// backups and exchange the slots that differ, so replicas converge whatever was lost on the
// way. It returns the slots repaired.
func (m *Mover) AntiEntropy() (repaired int) {
	v := m.cfg.Current()
	r := v.Ring()
	started := m.cfg.Clock()
	unclean := map[string]bool{} // backups this round could not bring in sync
	complete := true
	for p := 0; p < r.Partitions(); p++ {
		if !m.running() {
			return repaired
		}
		if m.cfg.Current().Ring() != r {
			// The ring moved: pushing by the old view would hand copies to nodes that no
			// longer hold (and may just have dropped) the partition. The next round uses the new view.
			complete = false
			break
		}
		set := r.Replicas(p)
		if set[0] != m.cfg.Self || len(set) < 2 {
			continue
		}
		select {
		case <-v.Ready(p):
		default:
			for _, b := range set[1:] {
				unclean[b] = true
			}
			continue // still syncing
		}
		slots := slotsOf(r.Partitions(), p)
		clean := true
		for _, b := range set[1:] {
			addr, _ := v.Addr(b)
			n, err := m.compareWith(addr, slots)
			if err != nil {
				clean = false
				unclean[b] = true
				m.log.Debug("anti-entropy failed", "partition", p, "peer", b, "err", err)
				continue
			}
			repaired += n
		}
		if clean {
			m.dirty[p].Store(false)
		}
	}
	if complete {
		// Every copy a backup missed before the round started is repaired now.
		for _, name := range r.Members() {
			if !unclean[name] && name != m.cfg.Self {
				m.cfg.InSync(name, started)
			}
		}
	}
	if repaired > 0 {
		m.repairs.Add(uint64(repaired))
		m.log.Info("anti-entropy repaired slots", "slots", repaired)
	}
	return repaired
}

// compareWith exchanges the slots whose digests differ between this node and a peer.
func (m *Mover) compareWith(addr string, slots []uint16) (int, error) {
	ctx, cancel := context.WithTimeout(m.life, m.cfg.RPCTimeout)
	defer cancel()
	digests, err := m.peers.Digests(ctx, addr, slots)
	if err != nil {
		return 0, err
	}
	n := 0
	local := m.store.SlotDigests(intSlots(slots)) // one pass over the partition's shard
	for i, s := range slots {
		if i >= len(digests) || digests[i] == local[i] {
			continue
		}
		if err := m.pullSlot(addr, int(s), 4*m.cfg.RPCTimeout); err != nil {
			return n, err
		}
		if err := m.pushSlot(m.life, addr, int(s)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ReadRepair asks the members in set (a partition's replicas, or every member) for one
// session and merges what they have: a miss just after a view change may be a write still on
// its way. complete is false when a member could not be asked.
func (m *Mover) ReadRepair(ctx context.Context, v View, set []string, id sessions.ID) (applied, complete bool) {
	type answer struct {
		ops []sessions.Op
		err error
	}
	found := make(chan answer, len(set))
	for _, member := range set {
		if member == m.cfg.Self {
			found <- answer{}
			continue
		}
		addr, _ := v.Addr(member)
		go func() {
			cctx, cancel := context.WithTimeout(ctx, m.cfg.RPCTimeout/2)
			defer cancel()
			ops, err := m.peers.Fetch(cctx, addr, id)
			found <- answer{ops, err}
		}()
	}
	complete = true
	for range set {
		a := <-found
		if a.err != nil {
			complete = false
		}
		for i := range a.ops {
			m.store.Apply(&a.ops[i])
			applied = true
		}
	}
	if applied {
		m.repairs.Add(1)
	}
	return applied, complete
}

// NoteHeld records which partitions this node holds in a new ring; call it under Install.
func (m *Mover) NoteHeld(r *ring.Ring) {
	for p := 0; p < r.Partitions(); p++ {
		if held, _ := r.Holds(m.cfg.Self, p); held {
			delete(m.unheld, p)
		} else if _, ok := m.unheld[p]; !ok {
			m.unheld[p] = time.Now()
		}
	}
}

// DropUnheld forgets partitions this node has not held for DropAfter. Keeping them would
// waste memory and, worse, let a stale copy outlive the tombstones that end its sessions.
// Each copy is first pushed to the holders (a holder that missed it while syncing gets its
// last chance); a copy whose push fails is kept and tried again later.
func (m *Mover) DropUnheld() {
	m.cfg.Install.Lock()
	var due []int
	for p, since := range m.unheld {
		if time.Since(since) >= m.cfg.DropAfter {
			due = append(due, p)
			// Stays listed: a copy that still arrives late (a peer acting on an older view) is
			// dropped on a later pass. A pass over slots that are already empty costs little.
			m.unheld[p] = time.Now()
		}
	}
	m.cfg.Install.Unlock()
	if len(due) == 0 {
		return
	}
	v := m.cfg.Current()
	r := v.Ring()
	dropped := 0
	for _, p := range due {
		if held, _ := r.Holds(m.cfg.Self, p); held {
			continue
		}
		pushed := true
		for _, to := range r.Replicas(p) {
			if err := m.push(m.life, Handoff{P: p, To: to}); err != nil {
				m.log.Debug("hand-off before drop failed; keeping the copy", "partition", p, "to", to, "err", err)
				pushed = false
			}
		}
		if !pushed {
			continue
		}
		// Drop only if the view is still the one the pushes went by.
		m.cfg.Install.Lock()
		if m.cfg.Current() == v {
			for _, s := range slotsOf(r.Partitions(), p) {
				dropped += m.store.DropSlot(int(s))
			}
		}
		m.cfg.Install.Unlock()
	}
	if dropped > 0 {
		m.log.Info("dropped partitions no longer held", "partitions", len(due), "sessions", dropped)
	}
}
