package sessions

import "sync/atomic"

// Op is the replicated state of one session: its whole header plus the payloads that changed
// (all of them in a full copy). Applying an Op is a merge that is idempotent, commutative and
// associative, so a primary's write, a backup's copy, a hand-off stream and an anti-entropy
// repair are all the same Apply, in any order, any number of times.
type Op struct {
	ID     ID     `msgpack:"i"`
	Tenant Tenant `msgpack:"t"`
	// Ended marks a tombstone. It absorbs everything: ids are never reused, so an ended session
	// stays ended whatever older (or, after a split brain, newer) copy arrives later.
	Ended bool `msgpack:"e,omitempty"`
	// Forget is when a tombstone may be dropped (unix ms): after the session's last possible
	// deadline plus the tombstone grace.
	Forget int64 `msgpack:"f,omitempty"`
	// Next is, on the tombstone of a rotated id, the id it was rotated into: copies of the old
	// id that arrive later are merged into it (see Store.Apply).
	Next     ID    `msgpack:"nx,omitempty"`
	Deadline int64 `msgpack:"dl,omitempty"`
	// MAC is the session's token signature (never changes; see record.mac).
	MAC      MAC       `msgpack:"mc,omitempty"`
	HVer     uint64    `msgpack:"hv,omitempty"`
	LastSeen int64     `msgpack:"ls,omitempty"`
	Created  uint32    `msgpack:"c,omitempty"`
	Idle     uint32    `msgpack:"id,omitempty"`
	Reads    uint32    `msgpack:"r,omitempty"`
	Writes   uint32    `msgpack:"w,omitempty"`
	Owner    []byte    `msgpack:"o,omitempty"`
	IP       []byte    `msgpack:"ip,omitempty"`
	UA       []byte    `msgpack:"ua,omitempty"`
	Fields   []FieldOp `msgpack:"fs,omitempty"`
}

// Slot is the slot of the session the op changes.
func (o *Op) Slot() int { return o.ID.Slot() }

// opOf copies a record's header into an op, with the given fields.
func (s *Store) opOf(id ID, r *record, fields []FieldOp) Op {
	m := splitBlob(r.bytes())
	return Op{
		ID: id, Tenant: s.tenants.get(r.tenant), Deadline: r.deadline, MAC: r.mac, HVer: r.hver, LastSeen: r.lastSeen,
		Created: r.created, Idle: r.idle, Reads: r.reads, Writes: r.writes,
		Owner: m.owner, IP: m.ip, UA: m.ua, Fields: fields,
	}
}

// allFields lists every field of a blob (deleted ones included) as FieldOps.
func allFields(m blobMeta) []FieldOp {
	var out []FieldOp
	it := fieldIter{m.fields}
	for {
		n, v, d, ok := it.next()
		if !ok {
			return out
		}
		out = append(out, FieldOp{Name: n, Ver: v, Data: d})
	}
}

// clock is a hybrid logical clock: unix milliseconds in the high 48 bits, a counter in the low
// 16. Versions it issues are unique per node and grow even when the wall clock steps back.
type clock struct{ last atomic.Uint64 }

func (c *clock) next(nowMs int64) uint64 {
	phys := uint64(nowMs) << 16
	for {
		last := c.last.Load()
		v := phys
		if v <= last {
			v = last + 1
		}
		if c.last.CompareAndSwap(last, v) {
			return v
		}
	}
}

// observe moves the clock past a version seen from another node.
func (c *clock) observe(v uint64) {
	for {
		last := c.last.Load()
		if v <= last || c.last.CompareAndSwap(last, v) {
			return
		}
	}
}
