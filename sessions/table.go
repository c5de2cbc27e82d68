package sessions

import "encoding/binary"

// table is an open-addressing hash set of records keyed by their id, with linear probing and
// backward-shift deletion. It exists for memory: a slot is one pointer, where a Go map spends
// about 50 bytes per entry on a 16-byte key, a pointer and its load-factor slack.
// Session ids are random, so the id's own bytes are a good hash once mixed.
//
// Beside each slot sits a one-byte tag from the id's hash (0 when the slot is empty). A probe
// compares tags and touches a record only when its tag matches: the record is usually a
// cache miss, and a lookup probes about two slots at the load factors used here.
type table struct {
	slots []*record // length is zero or a power of two
	tags  []uint8   // same length as slots
	n     int
}

// tagOf takes the hash's top byte (the index uses the low bits), never 0.
func tagOf(h uint64) uint8 {
	if t := uint8(h >> 56); t != 0 {
		return t
	}
	return 1
}

func hashID(id *ID) uint64 {
	return (binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])) * 0x9E3779B97F4A7C15
}

func (t *table) len() int { return t.n }

func (t *table) get(id ID) *record {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	h := hashID(&id)
	tag := tagOf(h)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t.tags[i] {
		case 0:
			return nil
		case tag:
			if r := t.slots[i]; r.id == id {
				return r
			}
		}
	}
}

// put stores r, replacing and returning any record with the same id.
func (t *table) put(r *record) *record {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(8, len(t.slots)*2))
	}
	mask := uint64(len(t.slots) - 1)
	h := hashID(&r.id)
	tag := tagOf(h)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t.tags[i] {
		case 0:
			t.slots[i], t.tags[i] = r, tag
			t.n++
			return nil
		case tag:
			if old := t.slots[i]; old.id == r.id {
				t.slots[i] = r
				return old
			}
		}
	}
}

// del removes the record with id, if any, and shifts later members of its probe run back so
// that lookups never stop early at the hole.
func (t *table) del(id ID) *record {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	h := hashID(&id)
	tag := tagOf(h)
	i := h & mask
	for ; ; i = (i + 1) & mask {
		if t.tags[i] == 0 {
			return nil
		}
		if t.tags[i] == tag && t.slots[i].id == id {
			break
		}
	}
	gone := t.slots[i]
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		r := t.slots[j]
		if r == nil {
			break
		}
		// r may move into the hole at i only if its home is not in (i, j].
		home := hashID(&r.id) & mask
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i], t.tags[i] = r, t.tags[j]
			i = j
		}
	}
	t.slots[i], t.tags[i] = nil, 0
	t.n--
	if len(t.slots) > 64 && t.n*8 < len(t.slots) {
		t.resize(len(t.slots) / 2) // give memory back after a mass expiry
	}
	return gone
}

func (t *table) resize(size int) {
	old := t.slots
	t.slots = make([]*record, size)
	t.tags = make([]uint8, size)
	t.n = 0
	for _, r := range old {
		if r != nil {
			t.put(r)
		}
	}
}

// each calls fn for every record. fn must not add or delete records: callers collect what to
// delete and delete afterwards.
func (t *table) each(fn func(r *record)) {
	for _, r := range t.slots {
		if r != nil {
			fn(r)
		}
	}
}
