// Package sessions is the session model and the local store: tokens, payloads, owners,
// tenants, deadlines and versions. It knows nothing of networks: the node layer decides where a
// command runs and ships the Ops a write returns to other replicas, which Apply them.
package sessions

import (
	"bytes"
	"slices"
	"sync"
	"time"
)

// Config tunes a Store. The zero value is usable.
type Config struct {
	// Now is the wall clock. Default time.Now.
	Now func() time.Time
	// TombstoneTTL is how long an ended or expired session's id is remembered past its last
	// possible deadline, so that a late copy from a slow replica cannot bring it back.
	// Default 10 minutes.
	TombstoneTTL time.Duration
	// MaxMemory is the used memory (see Stats.UsedMemory) past which Do refuses writes that
	// grow the store with ErrOOM. Apply never refuses: a backup must keep what its primary
	// acknowledged. 0 means no limit.
	MaxMemory int64
	// Journal, if set, hears of every change the store takes (package disk logs them).
	Journal Journal
}

// numShards is how many locks and maps the store is split into. Slot s lives in shard
// s%numShards. Fewer, larger maps than one per slot keep Go's map load factor (and so the
// bytes per session) near its average instead of just past a doubling.
const numShards = 256

// Store holds sessions in shards, each with its own lock: a command touches one shard.
type Store struct {
	journal Journal
	now     func() time.Time
	tombTTL int64 // ms
	clock   clock
	tenants tenantTable
	shards  []shard
	mem     *usage
	// The caps on payloads per session and steps per PUPDATE: MaxPayloads and
	// MaxUpdateSteps, fields only so that a benchmark can measure past them.
	maxPayloads, maxSteps int

	sweepMu sync.Mutex
	cursor  int
}

type shard struct {
	mu    sync.Mutex
	live  table
	tombs map[ID]int64 // id -> when the tombstone may be forgotten (unix ms)
	// next maps a rotated id's tombstone to the id it was rotated into (same slot, so same
	// shard). Only rotated ids have an entry; it is forgotten with the tombstone.
	next  map[ID]ID
	bytes int64 // blob bytes held
	mem   *usage
	// doomed is Sweep's scratch space, kept so sweeping does not allocate.
	doomed []*record
}

// New returns an empty store.
func New(cfg Config) *Store {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TombstoneTTL <= 0 {
		cfg.TombstoneTTL = 10 * time.Minute
	}
	s := &Store{journal: cfg.Journal, now: cfg.Now, tombTTL: cfg.TombstoneTTL.Milliseconds(), shards: make([]shard, numShards),
		mem: &usage{limit: max(cfg.MaxMemory, 0)}, maxPayloads: MaxPayloads, maxSteps: MaxUpdateSteps}
	for i := range s.shards {
		s.shards[i].mem = s.mem
	}
	return s
}

func (s *Store) nowMs() int64 { return s.now().UnixMilli() }

// nowFor is the time a command runs at: the reading it carries, or the store's clock.
func (s *Store) nowFor(cmd *Command) int64 {
	if cmd.At != 0 {
		return cmd.At
	}
	return s.nowMs()
}

func (s *Store) shard(slot int) *shard { return &s.shards[slot%numShards] }

// lookupLocked finds a live session for cmd, checking in the original module's order:
// existence (an expired session does not exist), then the tenant.
func (sh *shard) lookupLocked(id ID, ti uint32, known bool, now int64) (*record, error) {
	r := sh.live.get(id)
	if r == nil || r.effectiveDeadline() <= now {
		return nil, ErrNoSession
	}
	if !known || r.tenant != ti {
		return nil, ErrWrongKey
	}
	return r, nil
}

func (sh *shard) putLocked(id ID, r *record) {
	r.id = id
	delta := int64(len(r.blob))
	if old := sh.live.put(r); old != nil {
		delta -= int64(len(old.blob))
	} else {
		sh.mem.add(sessionCost)
	}
	sh.bytes += delta
	sh.mem.add(delta)
}

// delLocked forgets a live session (without a tombstone).
func (sh *shard) delLocked(id ID, r *record) {
	sh.bytes -= int64(len(r.blob))
	sh.mem.add(-int64(len(r.blob)) - sessionCost)
	sh.live.del(id)
}

func (sh *shard) setBlobLocked(r *record, blob []byte) {
	delta := int64(len(blob) - len(r.blob))
	sh.bytes += delta
	sh.mem.add(delta)
	r.blob = frozen(blob)
}

// endLocked turns a live session into a tombstone and returns the op that says so.
func (s *Store) endLocked(sh *shard, id ID, r *record, now int64) Op {
	forget := max(r.deadline, now) + s.tombTTL
	sh.delLocked(id, r)
	sh.tombLocked(id, forget)
	return Op{ID: id, Tenant: s.tenants.get(r.tenant), Ended: true, Forget: forget}
}

func (sh *shard) tombLocked(id ID, forget int64) {
	if sh.tombs == nil {
		sh.tombs = make(map[ID]int64)
	}
	if old, ok := sh.tombs[id]; forget > old {
		if !ok {
			sh.mem.add(tombstoneCost)
		}
		sh.tombs[id] = forget
	}
}

// maxHops bounds how far Apply follows a chain of rotations (a session rotated again and
// again within the tombstone TTL). A copy past it is dropped, as it was before rotations
// were followed at all.
const maxHops = 64

// Apply merges a replicated op into the store. It never fails: a stale or duplicate op merges
// to no change, and nothing ended or expired comes back.
//
// A rotated id is followed: what a copy of the old id carries (a write acknowledged on the
// other side of a network partition while this side rotated the session, or a replica's copy
// that missed the rotation) is merged into the live session it was rotated into, instead of
// being absorbed by the old id's tombstone. Payloads and the header keep their versions, so
// the merge stays idempotent and commutative.
func (s *Store) Apply(op *Op) {
	s.apply(op)
	if s.journal != nil {
		s.journal.Ops([]Op{*op})
	}
}

func (s *Store) apply(op *Op) {
	now := s.nowMs()
	s.clock.observe(op.HVer)
	for i := range op.Fields {
		s.clock.observe(op.Fields[i].Ver)
	}
	ti := s.tenants.intern(op.Tenant)
	sh := s.shard(op.ID.Slot())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s.applyLocked(sh, op, ti, now)
}

func (s *Store) applyLocked(sh *shard, op *Op, ti uint32, now int64) {
	if _, ok := sh.tombs[op.ID]; ok {
		if op.Ended {
			sh.tombLocked(op.ID, op.Forget)
			sh.linkLocked(op.ID, op.Next)
		} else if next, ok := sh.next[op.ID]; ok {
			s.forwardLocked(sh, next, op, ti, now)
		}
		return
	}
	r := sh.live.get(op.ID)
	if op.Ended {
		linked := sh.linkLocked(op.ID, op.Next)
		if r != nil {
			if linked {
				// This replica's copy may hold writes the rotating primary never saw.
				full := s.opOf(op.ID, r, allFields(splitBlob(r.bytes())))
				s.forwardLocked(sh, sh.next[op.ID], &full, r.tenant, now)
			}
			sh.delLocked(op.ID, r)
		}
		sh.tombLocked(op.ID, max(op.Forget, now+s.tombTTL))
		return
	}
	if r == nil {
		// A copy of an already expired session is simply dropped: remembering it as a
		// tombstone could swallow a later-arriving extension that was issued in time.
		if op.Deadline <= now {
			return
		}
		fields := sortedFieldOps(op.Fields)
		blob, _ := buildBlob(op.Owner, op.IP, op.UA, nil, fields)
		sh.putLocked(op.ID, &record{
			mac: op.MAC, tenant: ti, deadline: op.Deadline, hver: op.HVer, lastSeen: op.LastSeen,
			created: op.Created, idle: op.Idle, reads: op.Reads, writes: op.Writes, blob: frozen(blob),
		})
		return
	}
	m := splitBlob(r.bytes())
	owner, ip, ua := m.owner, m.ip, m.ua
	if op.HVer > r.hver || op.HVer == r.hver && op.Deadline > r.deadline {
		r.hver, r.deadline, r.idle, r.tenant = op.HVer, op.Deadline, op.Idle, ti
		owner, ip, ua = op.Owner, op.IP, op.UA
	}
	if r.mac.IsZero() {
		r.mac = op.MAC
	}
	r.lastSeen = max(r.lastSeen, op.LastSeen)
	r.reads = max(r.reads, op.Reads)
	r.writes = max(r.writes, op.Writes)
	if r.created == 0 || op.Created != 0 && op.Created < r.created {
		r.created = op.Created
	}
	blob, _ := buildBlob(owner, ip, ua, m.fields, sortedFieldOps(op.Fields))
	sh.setBlobLocked(r, blob)
	if r.deadline <= now {
		s.endLocked(sh, op.ID, r, now)
	}
}

// forwardLocked merges a copy of a rotated id into the session it was rotated into, following
// further rotations. It only ever merges into a live session, never creates one: a successor
// this replica does not hold may have ended with its tombstone not here yet (or forgotten),
// and creating it would bring it back. Every stream sends a rotation's new session before the
// old id's tombstone (ROTATE's ops; SlotOps, which sends live sessions first and a chain's
// newest link first; ExportChain), so a successor that is live anywhere is here by the time
// the link is.
func (s *Store) forwardLocked(sh *shard, next ID, op *Op, ti uint32, now int64) {
	for hops := 0; hops < maxHops; hops++ {
		if _, ended := sh.tombs[next]; ended {
			n, ok := sh.next[next]
			if !ok {
				return
			}
			next = n
			continue
		}
		if sh.live.get(next) == nil {
			return
		}
		fwd := *op
		fwd.ID, fwd.Ended, fwd.Next = next, false, ID{}
		s.applyLocked(sh, &fwd, ti, now)
		return
	}
}

// linkLocked records that id was rotated into next and reports whether id now has a
// successor. Two rotations of one id (one on each side of a network partition) both stay
// valid sessions; the smaller new id takes the old one's late copies, on every replica alike.
func (sh *shard) linkLocked(id, next ID) bool {
	if !next.IsZero() && next != id && next.Slot() == id.Slot() {
		if cur, ok := sh.next[id]; !ok || bytes.Compare(next[:], cur[:]) < 0 {
			if sh.next == nil {
				sh.next = make(map[ID]ID)
			}
			sh.next[id] = next
		}
	}
	_, ok := sh.next[id]
	return ok
}

// forgetLocked drops a tombstone and its link.
func (sh *shard) forgetLocked(id ID) {
	if _, ok := sh.tombs[id]; ok {
		sh.mem.add(-tombstoneCost)
	}
	delete(sh.tombs, id)
	delete(sh.next, id)
}

// sortedFieldOps orders field ops by name and keeps, per name, the winning one. It sorts a
// copy (n log n, whatever order a peer sent them in) and leaves fs alone.
func sortedFieldOps(fs []FieldOp) []FieldOp {
	sorted := true
	for i := 1; i < len(fs); i++ {
		if string(fs[i-1].Name) >= string(fs[i].Name) {
			sorted = false
			break
		}
	}
	if sorted {
		return fs
	}
	out := slices.Clone(fs)
	slices.SortFunc(out, func(a, b FieldOp) int { return bytes.Compare(a.Name, b.Name) })
	w := 0
	for _, f := range out {
		if w > 0 && string(out[w-1].Name) == string(f.Name) {
			if f.wins(out[w-1].Ver, out[w-1].Data) {
				out[w-1] = f
			}
			continue
		}
		out[w] = f
		w++
	}
	return out[:w]
}

// SweepFunc says whether this node may end a slot's idle-expired sessions. Only a slot's
// primary may: its last-seen times are the freshest.
type SweepFunc func(slot int) bool

// Sweep examines the next n of the store's shards (round robin) and frees what has expired there: sessions
// past their absolute deadline everywhere, idle-expired sessions where primaryFor says so, and
// tombstones whose time is up. It returns how many sessions it ended and the tombstone ops of
// idle expiries, which the caller must replicate (absolute expiry needs no messages: every
// replica holds the same deadline).
func (s *Store) Sweep(n int, primaryFor SweepFunc) (expired int, ops []Op) {
	s.sweepMu.Lock()
	start := s.cursor
	s.cursor = (s.cursor + n) % numShards
	s.sweepMu.Unlock()
	now := s.nowMs()
	for i := 0; i < n && i < numShards; i++ {
		sh := &s.shards[(start+i)%numShards]
		sh.mu.Lock()
		var idle []*record
		doomed := sh.doomed[:0]
		sh.live.each(func(r *record) {
			switch {
			case r.deadline <= now:
				doomed = append(doomed, r)
			case r.effectiveDeadline() <= now && (primaryFor == nil || primaryFor(r.id.Slot())):
				idle = append(idle, r)
			}
		})
		for _, r := range doomed {
			s.endLocked(sh, r.id, r, now)
		}
		for _, r := range idle {
			ops = append(ops, s.endLocked(sh, r.id, r, now))
		}
		expired += len(doomed) + len(idle)
		clear(doomed)
		sh.doomed = doomed
		for id, t := range sh.tombs {
			if t <= now {
				sh.forgetLocked(id)
			}
		}
		sh.mu.Unlock()
	}
	if s.journal != nil && len(ops) > 0 {
		s.journal.Ops(ops)
	}
	return expired, ops
}

// Stats are the store's sizes.
type Stats struct {
	Sessions   int   // live sessions
	Tombstones int   // remembered ended or expired ids
	BlobBytes  int64 // bytes of owners, metadata and payloads held
	// UsedMemory is what the store counts against MaxMemory: BlobBytes plus a fixed cost per
	// session and per tombstone (see sessionCost).
	UsedMemory int64
	MaxMemory  int64 // the limit, 0 = none
}

// Stats counts the store's contents. It locks each shard in turn.
func (s *Store) Stats() Stats {
	var st Stats
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		st.Sessions += sh.live.len()
		st.Tombstones += len(sh.tombs)
		st.BlobBytes += sh.bytes
		sh.mu.Unlock()
	}
	st.UsedMemory = st.BlobBytes + int64(st.Sessions)*sessionCost + int64(st.Tombstones)*tombstoneCost
	st.MaxMemory = s.mem.limit
	return st
}
