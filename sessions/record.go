package sessions

import (
	"bytes"
	"encoding/binary"
	"unsafe"
)

// record is one live session. Fixed-size facts sit in the struct; everything variable
// (owner, ip, user agent, payloads) is packed into one immutable blob, so that a session costs
// two allocations and readers may keep slices of a blob after the shard lock is released:
// writers always build a new blob and never modify an old one.
//
// The struct is exactly 112 bytes (a malloc size class): the tenant is an index into the
// store's tenant table and the blob is a string header (the blob is immutable anyway). The
// MAC sits beside the id, which a lookup has just read, so checking it rarely costs another
// cache line.
type record struct {
	id       ID
	mac      MAC    // the token's signature, zero if the node that made the session kept none
	tenant   uint32 // index into Store.tenants
	created  uint32 // unix seconds
	idle     uint32 // idle timeout in seconds, 0 = none
	reads    uint32
	writes   uint32
	deadline int64  // absolute, unix ms, set by the primary
	hver     uint64 // version of the header: deadline, idle, owner, ip, ua
	lastSeen int64  // unix ms, merged by max
	blob     string // see below; read through bytes()
}

// bytes exposes the blob without copying. Callers must never write to it.
func (r *record) bytes() []byte { return unsafe.Slice(unsafe.StringData(r.blob), len(r.blob)) }

// frozen turns a freshly built blob into the record's string form without copying; the
// builder must not touch b again.
func frozen(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Blob layout:
//
//	ownerLen u8, owner, ipLen u8, ip, uaLen uvarint, ua,
//	then fields sorted by name: nameLen u8, name, version u64le, dataLen uvarint, data.
//
// A field with dataLen 0 is a deleted field: its version keeps an older copy of the field
// from coming back when replicas merge (payload data is never empty).

// effectiveDeadline is when the session ends: the earlier of the absolute and idle deadlines.
func (r *record) effectiveDeadline() int64 {
	if r.idle == 0 {
		return r.deadline
	}
	if d := r.lastSeen + int64(r.idle)*1000; d < r.deadline {
		return d
	}
	return r.deadline
}

type blobMeta struct {
	owner, ip, ua []byte
	fields        []byte // the encoded fields
}

func splitBlob(b []byte) blobMeta {
	var m blobMeta
	n := int(b[0])
	m.owner = b[1 : 1+n]
	b = b[1+n:]
	n = int(b[0])
	m.ip = b[1 : 1+n]
	b = b[1+n:]
	l, k := binary.Uvarint(b)
	m.ua = b[k : k+int(l)]
	m.fields = b[k+int(l):]
	return m
}

// fieldIter walks encoded fields.
type fieldIter struct{ rest []byte }

func (it *fieldIter) next() (name []byte, ver uint64, data []byte, ok bool) {
	b := it.rest
	if len(b) == 0 {
		return nil, 0, nil, false
	}
	n := int(b[0])
	name = b[1 : 1+n]
	b = b[1+n:]
	ver = binary.LittleEndian.Uint64(b)
	b = b[8:]
	l, k := binary.Uvarint(b)
	data = b[k : k+int(l)]
	it.rest = b[k+int(l):]
	return name, ver, data, true
}

func (m blobMeta) field(name []byte) (data []byte, ver uint64, found bool) {
	it := fieldIter{m.fields}
	for {
		n, v, d, ok := it.next()
		if !ok {
			return nil, 0, false
		}
		if string(n) == string(name) {
			return d, v, true
		}
	}
}

// payloads lists the fields that are not deleted, as PGETALL answers them; the slices are
// the blob's own.
func (m blobMeta) payloads() []Field {
	var fields []Field
	it := fieldIter{m.fields}
	for n, _, d, ok := it.next(); ok; n, _, d, ok = it.next() {
		if len(d) > 0 {
			fields = append(fields, Field{Name: n, Data: d})
		}
	}
	return fields
}

// liveFields counts fields that are not deleted.
func (m blobMeta) liveFields() int {
	it := fieldIter{m.fields}
	c := 0
	for {
		_, _, d, ok := it.next()
		if !ok {
			return c
		}
		if len(d) > 0 {
			c++
		}
	}
}

// FieldOp is one payload change to merge into a session; empty Data means deleted.
type FieldOp struct {
	Name []byte `msgpack:"n"`
	Ver  uint64 `msgpack:"v"`
	Data []byte `msgpack:"d,omitempty"`
}

// wins reports whether change c beats an existing field (version, then bytes, so that every
// replica picks the same winner whatever order copies arrive in).
func (c *FieldOp) wins(ver uint64, data []byte) bool {
	if c.Ver != ver {
		return c.Ver > ver
	}
	return bytes.Compare(c.Data, data) > 0
}

func appendHeader(dst, owner, ip, ua []byte) []byte {
	dst = append(dst, byte(len(owner)))
	dst = append(dst, owner...)
	dst = append(dst, byte(len(ip)))
	dst = append(dst, ip...)
	dst = binary.AppendUvarint(dst, uint64(len(ua)))
	return append(dst, ua...)
}

func appendField(dst, name []byte, ver uint64, data []byte) []byte {
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	dst = binary.LittleEndian.AppendUint64(dst, ver)
	dst = binary.AppendUvarint(dst, uint64(len(data)))
	return append(dst, data...)
}

func fieldSize(name, data []byte) int {
	return 1 + len(name) + 8 + uvarintLen(uint64(len(data))) + len(data)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// buildBlob returns a new blob with header (owner, ip, ua) and the fields of old merged with
// changes (changes must be sorted by name, without duplicates), and how many names the changes
// added (names old did not hold). One merge walk: linear in the fields and the changes.
func buildBlob(owner, ip, ua, oldFields []byte, changes []FieldOp) (blob []byte, added int) {
	size := 1 + len(owner) + 1 + len(ip) + uvarintLen(uint64(len(ua))) + len(ua) + len(oldFields)
	for i := range changes {
		size += fieldSize(changes[i].Name, changes[i].Data)
	}
	out := appendHeader(make([]byte, 0, size), owner, ip, ua)
	it := fieldIter{oldFields}
	name, ver, data, ok := it.next()
	ci := 0
	for ok || ci < len(changes) {
		switch {
		case ci == len(changes) || ok && string(name) < string(changes[ci].Name):
			out = appendField(out, name, ver, data)
			name, ver, data, ok = it.next()
		case !ok || string(changes[ci].Name) < string(name):
			c := &changes[ci]
			out = appendField(out, c.Name, c.Ver, c.Data)
			added++
			ci++
		default: // same name
			c := &changes[ci]
			if c.wins(ver, data) {
				out = appendField(out, c.Name, c.Ver, c.Data)
			} else {
				out = appendField(out, name, ver, data)
			}
			ci++
			name, ver, data, ok = it.next()
		}
	}
	return out, added
}
