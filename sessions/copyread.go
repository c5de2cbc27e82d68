package sessions

// ReadCopy answers a read from this store's copy of a session whose primary is another
// node: PGET, PGETALL or TTL of a live session without an idle timeout, when the answer is a
// hit. It changes nothing: the primary keeps the read counters and last-seen time (Touch).
// ok is false when the command must go to the primary instead: another kind, an idle
// session (its deadline moves with every read), or any miss or error, whose answer the
// primary may know better (a session created a moment ago, a repair in progress).
func (s *Store) ReadCopy(cmd *Command) (res Result, ok bool) {
	switch cmd.Kind {
	case KindPGet, KindPGetAll, KindTTL:
	default:
		return Result{}, false
	}
	if cmd.Kind == KindPGet && CheckName(cmd.Name) != nil {
		return Result{}, false
	}
	now := s.nowFor(cmd)
	ti, known := s.tenants.lookup(cmd.Tenant)
	sh := s.shard(cmd.ID.Slot())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, err := sh.lookupLocked(cmd.ID, ti, known, now)
	if err != nil || r.idle != 0 || cmd.Check != nil && !cmd.macMatches(r) {
		// A signature the copy cannot vouch for is settled by whoever sends it on.
		return Result{}, false
	}
	switch cmd.Kind {
	case KindPGet:
		data, _, found := splitBlob(r.bytes()).field(cmd.Name)
		if !found || len(data) == 0 {
			return Result{}, false
		}
		return Result{Data: data}, true
	case KindPGetAll:
		return Result{Fields: splitBlob(r.bytes()).payloads()}, true
	default: // KindTTL
		return Result{Int: (r.deadline - now + 999) / 1000}, true
	}
}

// Touch records reads of a live session that another replica answered: n more reads, the
// last at atMs. Unknown and ended sessions are ignored.
func (s *Store) Touch(id ID, atMs int64, n uint32) {
	sh := s.shard(id.Slot())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.live.get(id)
	if r == nil {
		return
	}
	r.reads += n
	r.lastSeen = max(r.lastSeen, atMs)
}
