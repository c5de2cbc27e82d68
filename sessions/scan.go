package sessions

import (
	"container/heap"
	"slices"
)

type owned struct {
	id ID
	r  *record
}

// ownedLocked lists the owner's live sessions in this shard, oldest first. Every session of
// (tenant, owner) lives in OwnerSlot(tenant, owner), so one shard holds them all.
func (sh *shard) ownedLocked(ti uint32, owner []byte, now int64) []owned {
	var out []owned
	sh.live.each(func(r *record) {
		if r.tenant != ti || r.effectiveDeadline() <= now {
			return
		}
		if m := splitBlob(r.bytes()); string(m.owner) == string(owner) {
			out = append(out, owned{r.id, r})
		}
	})
	slices.SortFunc(out, func(a, b owned) int {
		if a.r.created != b.r.created {
			return int(a.r.created) - int(b.r.created)
		}
		if a.r.hver != b.r.hver {
			if a.r.hver < b.r.hver {
				return -1
			}
			return 1
		}
		return slices.Compare(a.id[:], b.id[:])
	})
	return out
}

func (s *Store) ownerCommand(cmd *Command) (Result, error) {
	if len(cmd.Owner) == 0 || len(cmd.Owner) > MaxOwnerLen {
		return Result{}, ErrBadCommand
	}
	ti, known := s.tenants.lookup(cmd.Tenant)
	if !known {
		return Result{}, nil
	}
	now := s.nowMs()
	sh := s.shard(OwnerSlot(cmd.Tenant, cmd.Owner))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	mine := sh.ownedLocked(ti, cmd.Owner, now)
	var res Result
	if cmd.Kind == KindEndOwner {
		for _, o := range mine {
			res.Ops = append(res.Ops, s.endLocked(sh, o.id, o.r, now))
		}
		res.Int = int64(len(mine))
		return res, nil
	}
	res.Sessions = make([]Info, 0, len(mine))
	for _, o := range mine {
		res.Sessions = append(res.Sessions, infoOf(o.id, o.r, splitBlob(o.r.bytes()), now))
	}
	return res, nil
}

// scatterCommand runs a tenant-wide command over the given slots (all when cmd.Slots is nil).
// Its cost is linear in the sessions held there.
func (s *Store) scatterCommand(cmd *Command) (Result, error) {
	if cmd.Kind != KindEndAll && (cmd.Seconds < 0 || cmd.Seconds > MaxTTL) {
		return Result{}, ErrBadCommand
	}
	limit := cmd.Limit
	if limit <= 0 || limit > MaxActiveLimit {
		limit = MaxActiveLimit
	}
	var res Result
	ti, known := s.tenants.lookup(cmd.Tenant)
	if !known {
		return res, nil
	}
	var mask []bool // slots to visit; nil: all
	if cmd.Slots != nil {
		mask = make([]bool, Slots)
		for _, slot := range cmd.Slots {
			if int(slot) < Slots {
				mask[slot] = true
			}
		}
	}
	now := s.nowMs()
	cutoff := now - cmd.Seconds*1000
	var recent recentHeap
	// Owners are deduplicated per slot: all of an owner's sessions share one slot.
	seen := map[ownerKey]struct{}{}
	var doomed []*record
	visit := func(sh *shard) {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		doomed = doomed[:0]
		sh.live.each(func(r *record) {
			id := r.id
			if r.tenant != ti || r.effectiveDeadline() <= now || mask != nil && !mask[id.Slot()] {
				return
			}
			switch cmd.Kind {
			case KindEndAll:
				doomed = append(doomed, r)
			case KindActivity:
				if m := splitBlob(r.bytes()); len(m.owner) > 0 && r.lastSeen >= cutoff {
					k := ownerKey{uint16(id.Slot()), string(m.owner)}
					if _, dup := seen[k]; !dup {
						seen[k] = struct{}{}
						res.Int++
					}
				}
			case KindActive:
				if r.lastSeen >= cutoff {
					if len(recent) < limit {
						heap.Push(&recent, infoOf(id, r, splitBlob(r.bytes()), now))
					} else if r.lastSeen > recent[0].LastSeen {
						recent[0] = infoOf(id, r, splitBlob(r.bytes()), now)
						heap.Fix(&recent, 0)
					}
				}
			}
		})
		for _, r := range doomed {
			res.Ops = append(res.Ops, s.endLocked(sh, r.id, r, now))
			res.Int++
		}
	}
	for i := range s.shards {
		visit(&s.shards[i])
	}
	if cmd.Kind == KindActive {
		res.Sessions = sortRecent([]Info(recent), limit)
	}
	return res, nil
}

// Merge is the answer to a tenant-wide command that ran in parts, over disjoint slots, with
// the parts' answers: counts add up, and ACTIVE's listings merge into one within its limit.
func Merge(cmd *Command, parts []Result) Result {
	var out Result
	for _, r := range parts {
		out.Int += r.Int
		out.Sessions = append(out.Sessions, r.Sessions...)
	}
	if cmd.Kind == KindActive {
		limit := cmd.Limit
		if limit <= 0 || limit > MaxActiveLimit {
			limit = MaxActiveLimit
		}
		out.Sessions = sortRecent(out.Sessions, limit)
	}
	return out
}

// sortRecent orders infos most recently seen first and keeps at most limit of them.
func sortRecent(infos []Info, limit int) []Info {
	slices.SortFunc(infos, func(a, b Info) int {
		switch {
		case a.LastSeen > b.LastSeen:
			return -1
		case a.LastSeen < b.LastSeen:
			return 1
		}
		return slices.Compare(a.ID[:], b.ID[:])
	})
	if len(infos) > limit {
		infos = infos[:limit]
	}
	return infos
}

type ownerKey struct {
	slot  uint16
	owner string
}

// recentHeap is a min-heap on LastSeen: its root is the least recent of the kept sessions.
type recentHeap []Info

func (h recentHeap) Len() int           { return len(h) }
func (h recentHeap) Less(i, j int) bool { return h[i].LastSeen < h[j].LastSeen }
func (h recentHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *recentHeap) Push(x any)        { *h = append(*h, x.(Info)) }
func (h *recentHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
