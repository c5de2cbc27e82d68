package sessions

import (
	"slices"
)

// Do executes a command on this store as the primary of its slot and returns the result with
// the ops to replicate. It checks what needs state, in the original module's order: the
// session exists, it was signed by the same key, then the payload limits.
//
// Past MaxMemory, commands that grow the store are refused with ErrOOM before anything else,
// as Redis refuses them, and change nothing.
func (s *Store) Do(cmd *Command) (Result, error) {
	res, err := s.do(cmd)
	if s.journal != nil && len(res.Ops) > 0 {
		s.journal.Ops(res.Ops)
	}
	return res, err
}

func (s *Store) do(cmd *Command) (Result, error) {
	if s.mem.over() && grows(cmd) {
		return Result{}, ErrOOM
	}
	switch cmd.Kind {
	case KindStart:
		return s.start(cmd)
	case KindList, KindEndOwner:
		return s.ownerCommand(cmd)
	case KindEndAll, KindActivity, KindActive:
		return s.scatterCommand(cmd)
	case KindExpire, KindPSet, KindPGet, KindPDel, KindEnd, KindInfo, KindPGetAll, KindPUpdate,
		KindTTL, KindIdle, KindRotate:
		return s.sessionCommand(cmd)
	}
	return Result{}, ErrBadCommand
}

func (s *Store) start(cmd *Command) (Result, error) {
	if cmd.TTL < 0 || cmd.TTL > MaxTTL || len(cmd.Owner) > MaxOwnerLen || len(cmd.IP) > MaxIPLen ||
		len(cmd.UA) > MaxUALen {
		return Result{}, ErrBadCommand
	}
	if cmd.TTL == 0 {
		// The original hands out a token for a session that is already over.
		return Result{}, nil
	}
	now := s.nowFor(cmd)
	sh := s.shard(cmd.ID.Slot())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.live.get(cmd.ID) != nil {
		return Result{}, ErrBadCommand // an id collision: 2^-83 odds; the caller draws again
	}
	if _, ok := sh.tombs[cmd.ID]; ok {
		return Result{}, ErrBadCommand
	}
	var res Result
	if cmd.MaxSessions > 0 && len(cmd.Owner) > 0 {
		mine := sh.ownedLocked(s.tenants.intern(cmd.Tenant), cmd.Owner, now)
		if len(mine) >= cmd.MaxSessions {
			if !cmd.Evict {
				return Result{}, &Error{Code: CodeOwnerLimit, Max: cmd.MaxSessions}
			}
			for _, o := range mine[:len(mine)-cmd.MaxSessions+1] {
				res.Ops = append(res.Ops, s.endLocked(sh, o.id, o.r, now))
			}
		}
	}
	r := &record{
		id:       cmd.ID,
		mac:      cmd.NewMAC,
		tenant:   s.tenants.intern(cmd.Tenant),
		deadline: now + cmd.TTL*1000,
		hver:     s.clock.next(now),
		lastSeen: now,
		created:  uint32(now / 1000),
		idle:     cmd.Idle,
	}
	blob, _ := buildBlob(cmd.Owner, cmd.IP, cmd.UA, nil, nil)
	r.blob = frozen(blob)
	sh.putLocked(cmd.ID, r)
	res.Ops = append(res.Ops, s.opOf(cmd.ID, r, nil))
	return res, nil
}

// sessionCommand runs the commands addressed by one token.
func (s *Store) sessionCommand(cmd *Command) (Result, error) {
	now := s.nowFor(cmd)
	ti, known := s.tenants.lookup(cmd.Tenant)
	sh := s.shard(cmd.ID.Slot())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, err := sh.lookupLocked(cmd.ID, ti, known, now)
	if cmd.Check != nil && !(err == nil && cmd.macMatches(r)) && !cmd.Check.CheckMAC(cmd.ID, &cmd.MAC) {
		// The original module checks the signature before anything else.
		return Result{}, ErrSignature
	}
	if err != nil {
		return Result{}, err
	}
	m := splitBlob(r.bytes())
	switch cmd.Kind {
	case KindExpire:
		if cmd.TTL <= 0 || cmd.TTL > MaxTTL {
			if cmd.TTL == 0 {
				return Result{Ops: []Op{s.endLocked(sh, cmd.ID, r, now)}}, nil
			}
			return Result{}, ErrBadCommand
		}
		r.deadline = now + cmd.TTL*1000
		r.hver = s.clock.next(now)
		r.lastSeen = now
		return Result{Ops: []Op{s.opOf(cmd.ID, r, nil)}}, nil

	case KindIdle:
		r.idle = cmd.Idle
		r.hver = s.clock.next(now)
		r.lastSeen = now
		return Result{Ops: []Op{s.opOf(cmd.ID, r, nil)}}, nil

	case KindEnd:
		return Result{Ops: []Op{s.endLocked(sh, cmd.ID, r, now)}}, nil

	case KindPGet:
		if err := CheckName(cmd.Name); err != nil {
			return Result{}, err
		}
		data, _, found := m.field(cmd.Name)
		if !found || len(data) == 0 {
			return Result{}, ErrNoPayload
		}
		r.reads++
		r.lastSeen = now
		return Result{Data: data}, nil

	case KindPGetAll:
		r.reads++
		r.lastSeen = now
		return Result{Fields: m.payloads()}, nil

	case KindInfo:
		if cmd.Limit&DescribePayloads != 0 {
			return describeLocked(cmd, r, m, now), nil
		}
		r.reads++
		r.lastSeen = now
		info := infoOf(cmd.ID, r, m, now)
		return Result{Info: &info}, nil

	case KindTTL:
		return Result{Int: (r.effectiveDeadline() - now + 999) / 1000}, nil

	case KindPSet:
		if err := CheckName(cmd.Name); err != nil {
			return Result{}, err
		}
		if err := CheckData(cmd.Data); err != nil {
			return Result{}, err
		}
		return s.writeFields(sh, cmd.ID, r, m, []FieldOp{{Name: cmd.Name, Data: cmd.Data}}, now)

	case KindPDel:
		if err := CheckName(cmd.Name); err != nil {
			return Result{}, err
		}
		if m.liveFields() == 0 {
			return Result{}, ErrNoPayload
		}
		if data, _, found := m.field(cmd.Name); !found || len(data) == 0 {
			return Result{}, nil // the module's quirk: +OK when other payloads exist
		}
		return s.writeFields(sh, cmd.ID, r, m, []FieldOp{{Name: cmd.Name}}, now)

	case KindPUpdate:
		if len(cmd.Updates) > s.maxSteps {
			return Result{}, &Error{Code: CodeTooManySteps, Max: s.maxSteps}
		}
		changes := make([]FieldOp, 0, len(cmd.Updates))
		for _, u := range cmd.Updates {
			if err := CheckName(u.Name); err != nil {
				return Result{}, err
			}
			if !u.Delete {
				if err := CheckData(u.Data); err != nil {
					return Result{}, err
				}
			}
			changes = append(changes, FieldOp{Name: u.Name, Data: u.Data})
			if u.Delete {
				changes[len(changes)-1].Data = nil
			}
		}
		if len(changes) == 0 {
			return Result{}, ErrBadCommand
		}
		return s.writeFields(sh, cmd.ID, r, m, lastPerName(changes), now)

	case KindRotate:
		if cmd.NewID.Slot() != cmd.ID.Slot() {
			return Result{}, ErrBadCommand
		}
		if sh.live.get(cmd.NewID) != nil {
			return Result{}, ErrBadCommand
		}
		if _, ok := sh.tombs[cmd.NewID]; ok {
			return Result{}, ErrBadCommand
		}
		nr := *r
		nr.mac = cmd.NewMAC
		nr.hver = s.clock.next(now)
		nr.lastSeen = now
		nr.id = cmd.NewID
		end := s.endLocked(sh, cmd.ID, r, now)
		// The tombstone names the new id, so that a copy of the old one that missed the
		// rotation (a write on the far side of a partition) is merged into it, not lost.
		// The new session goes first: Apply merges into a successor only if it holds it.
		end.Next = cmd.NewID
		sh.linkLocked(cmd.ID, cmd.NewID)
		sh.putLocked(cmd.NewID, &nr)
		return Result{Ops: []Op{s.opOf(cmd.NewID, &nr, allFields(m)), end}}, nil
	}
	return Result{}, ErrBadCommand
}

// writeFields merges field changes (sorted, one per name) stamped with a fresh version. A
// write that would take the session past maxPayloads names is refused and changes nothing;
// one that adds no name always goes through (a session holding more, merged from a peer,
// may still overwrite and delete). Linear in the session's fields and the changes.
func (s *Store) writeFields(sh *shard, id ID, r *record, m blobMeta, changes []FieldOp, now int64) (Result, error) {
	v := s.clock.next(now)
	for i := range changes {
		changes[i].Ver = v
	}
	blob, added := buildBlob(m.owner, m.ip, m.ua, m.fields, changes)
	if added > 0 && countFields(m.fields)+added > s.maxPayloads {
		return Result{}, &Error{Code: CodePayloadLimit, Max: s.maxPayloads}
	}
	sh.setBlobLocked(r, blob)
	// The op must not alias the caller's buffers (it is encoded after Do returns): point it
	// at the new, immutable blob instead. The blob's fields and the changes are both sorted
	// by name, and every change's name is in the blob, so one walk over it finds them all.
	it := fieldIter{splitBlob(r.bytes()).fields}
	i := 0
	for name, _, data, ok := it.next(); ok && i < len(changes); name, _, data, ok = it.next() {
		if string(name) == string(changes[i].Name) {
			changes[i].Name, changes[i].Data = name, data
			i++
		}
	}
	r.writes++
	r.lastSeen = now
	return Result{Ops: []Op{s.opOf(id, r, changes)}}, nil
}

// lastPerName sorts changes by name, keeping the last change of each name (the order of a
// PUPDATE's steps decides between two steps on one name).
func lastPerName(changes []FieldOp) []FieldOp {
	slices.SortStableFunc(changes, func(a, b FieldOp) int {
		switch {
		case string(a.Name) < string(b.Name):
			return -1
		case string(a.Name) > string(b.Name):
			return 1
		}
		return 0
	})
	out := changes[:0]
	for i, c := range changes {
		if i+1 < len(changes) && string(changes[i+1].Name) == string(c.Name) {
			continue
		}
		out = append(out, c)
	}
	return out
}

func infoOf(id ID, r *record, m blobMeta, now int64) Info {
	return Info{
		ID: id, Owner: m.owner, IP: m.ip, UA: m.ua,
		Created: int64(r.created), LastSeen: r.lastSeen, TTL: r.effectiveDeadline() - now,
		IdleTimeout: r.idle, Reads: r.reads, Writes: r.writes, Payloads: m.liveFields(),
	}
}
