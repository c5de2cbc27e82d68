package sessions

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// SlotOps calls fn with a full copy of every session and tombstone in slot: the unit of
// hand-off and repair. Applying them elsewhere merges; it can never resurrect anything.
// fn runs without the shard lock held.
func (s *Store) SlotOps(slot int, fn func(op *Op)) {
	sh := s.shard(slot)
	var ops []Op
	sh.mu.Lock()
	now := s.nowMs()
	sh.live.each(func(r *record) {
		if r.id.Slot() == slot && r.deadline > now {
			ops = append(ops, s.opOf(r.id, r, allFields(splitBlob(r.bytes()))))
		}
	})
	var linked []ID
	for id, forget := range sh.tombs {
		if id.Slot() != slot {
			continue
		}
		if _, ok := sh.next[id]; ok {
			linked = append(linked, id)
			continue
		}
		ops = append(ops, Op{ID: id, Ended: true, Forget: forget})
	}
	for _, id := range successorsFirst(linked, sh.next) {
		ops = append(ops, Op{ID: id, Ended: true, Forget: sh.tombs[id], Next: sh.next[id]})
	}
	sh.mu.Unlock()
	for i := range ops {
		fn(&ops[i])
	}
}

// successorsFirst orders rotated ids so that each comes after the one it was rotated into,
// when that was rotated too: a receiver then follows a chain of links (old -> new -> newer)
// into the live end of it, which SlotOps sends before any tombstone. Ids are never reused, so
// links form no cycle; should one appear anyway, what is left goes last in any order.
func successorsFirst(ids []ID, next map[ID]ID) []ID {
	if len(ids) < 2 {
		return ids // the common case: SlotOps runs for every slot a hand-off or repair sends
	}
	out := make([]ID, 0, len(ids))
	done := make(map[ID]bool, len(ids))
	for len(ids) > 0 {
		rest := ids[:0]
		for _, id := range ids {
			n := next[id]
			if _, rotated := next[n]; rotated && !done[n] {
				rest = append(rest, id)
				continue
			}
			out = append(out, id)
			done[id] = true
		}
		if len(rest) == len(ids) {
			return append(out, rest...)
		}
		ids = rest
	}
	return out
}

// SlotDigest summarises the replicated state of a slot: ids, header and payload versions,
// and tombstones, but not read counters or last-seen times, which travel lazily. Two replicas
// with equal digests hold the same sessions. The digest is an XOR of per-session hashes, so
// it does not depend on iteration order.
func (s *Store) SlotDigest(slot int) uint64 {
	return s.SlotDigests([]int{slot})[0]
}

// SlotDigests returns SlotDigest of each slot, in order, visiting each shard involved once:
// a shard holds many slots (a partition's slots all share one), and a pass per slot made an
// anti-entropy round cost slots × shard size instead of shard size. An out-of-range slot's
// digest is 0.
func (s *Store) SlotDigests(slots []int) []uint64 {
	out := make([]uint64, len(slots))
	// want maps a slot to the first of its positions in slots; a slot asked for twice is
	// copied at the end.
	want := make(map[int]int, len(slots))
	var shards []int
	seen := make(map[int]bool)
	for i, slot := range slots {
		if slot < 0 || slot >= Slots {
			continue
		}
		if _, dup := want[slot]; !dup {
			want[slot] = i
		}
		if sh := slot % numShards; !seen[sh] {
			seen[sh] = true
			shards = append(shards, sh)
		}
	}
	var buf [64]byte
	now := s.nowMs()
	for _, i := range shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.live.each(func(r *record) {
			at, ok := want[r.id.Slot()]
			if !ok || r.deadline <= now {
				return
			}
			h := xxhash.New()
			b := append(buf[:0], r.id[:]...)
			b = binary.LittleEndian.AppendUint64(b, r.hver)
			h.Write(b)
			it := fieldIter{splitBlob(r.bytes()).fields}
			for n, v, _, ok := it.next(); ok; n, v, _, ok = it.next() {
				h.Write(n)
				h.Write(binary.LittleEndian.AppendUint64(buf[:0], v))
			}
			out[at] ^= h.Sum64()
		})
		for id := range sh.tombs {
			if at, ok := want[id.Slot()]; ok {
				out[at] ^= xxhash.Sum64(append(append(buf[:0], id[:]...), "ended"...))
			}
		}
		sh.mu.Unlock()
	}
	for i, slot := range slots {
		if at, ok := want[slot]; ok && at != i {
			out[i] = out[at]
		}
	}
	return out
}

// Export returns a full copy of one session (or its tombstone), for read repair.
func (s *Store) Export(id ID) (Op, bool) {
	sh := s.shard(id.Slot())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if forget, ok := sh.tombs[id]; ok {
		return Op{ID: id, Ended: true, Forget: forget, Next: sh.next[id]}, true
	}
	r := sh.live.get(id)
	if r == nil || r.deadline <= s.nowMs() {
		return Op{}, false
	}
	return s.opOf(id, r, allFields(splitBlob(r.bytes()))), true
}

// ExportChain is Export for read repair across rotations: for a rotated id it returns the
// sessions it was rotated into (each link's tombstone, ending with the live one) before the
// id's own tombstone, newest first, so that a receiver holding an older copy of the id can
// merge it into its successor (Apply merges only into a session it holds).
func (s *Store) ExportChain(id ID) []Op {
	op, ok := s.Export(id)
	if !ok {
		return nil
	}
	chain := []Op{op}
	for hops := 0; hops < maxHops && chain[0].Ended && !chain[0].Next.IsZero(); hops++ {
		next, ok := s.Export(chain[0].Next)
		if !ok {
			break
		}
		chain = append([]Op{next}, chain...)
	}
	return chain
}

// Ended reports whether id is remembered as ended or expired.
func (s *Store) Ended(id ID) bool {
	sh := s.shard(id.Slot())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, ok := sh.tombs[id]
	return ok
}

// DropSlot forgets everything held for slot: used when this node no longer holds the slot's
// partition, so that a stale copy cannot come back if the node later holds it again (it then
// pulls a fresh copy). It returns how many sessions it dropped.
func (s *Store) DropSlot(slot int) int {
	n := s.dropSlot(slot)
	if s.journal != nil {
		s.journal.Dropped(slot)
	}
	return n
}

func (s *Store) dropSlot(slot int) int {
	sh := s.shard(slot)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var doomed []*record
	sh.live.each(func(r *record) {
		if r.id.Slot() == slot {
			doomed = append(doomed, r)
		}
	})
	for _, r := range doomed {
		sh.delLocked(r.id, r)
	}
	for id := range sh.tombs {
		if id.Slot() == slot {
			sh.forgetLocked(id)
		}
	}
	return len(doomed)
}

// SeenBy counts every live session as seen at t (unix ms) at the latest: reads move a
// session's last-seen time without an op, so a store rebuilt from ops (a data directory
// after a restart) takes t, when its node last ran, for the last read of each. An idle
// timeout then counts from t at the earliest, never from an older write.
func (s *Store) SeenBy(t int64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.live.each(func(r *record) {
			if r.idle > 0 && r.lastSeen < t {
				r.lastSeen = t
			}
		})
		sh.mu.Unlock()
	}
}
