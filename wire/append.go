package wire

import (
	"encoding/binary"

	"github.com/sessiongate/sessiongate/sessions"
)

// AppendOp appends to b the bytes EncodeOp writes for o, without an encoder: the data
// directory logs every op the store takes, and appending is several times cheaper.
func AppendOp(b []byte, o *sessions.Op) []byte {
	n := 2 + count(o.Ended) + count(o.Forget != 0) + count(!o.Next.IsZero()) + count(o.Deadline != 0) + count(!o.MAC.IsZero()) + count(o.HVer != 0) +
		count(o.LastSeen != 0) + count(o.Created != 0) + count(o.Idle != 0) + count(o.Reads != 0) +
		count(o.Writes != 0) + count(len(o.Owner) > 0) + count(len(o.IP) > 0) + count(len(o.UA) > 0) +
		count(len(o.Fields) > 0)
	b = appendMapLen(b, n)
	b = appendBin(appendKey(b, "i"), o.ID[:])
	b = appendBin(appendKey(b, "t"), o.Tenant[:])
	if o.Ended {
		b = append(appendKey(b, "e"), 0xc3)
	}
	if o.Forget != 0 {
		b = appendInt64(appendKey(b, "f"), o.Forget)
	}
	if !o.Next.IsZero() {
		b = appendBin(appendKey(b, "nx"), o.Next[:])
	}
	if o.Deadline != 0 {
		b = appendInt64(appendKey(b, "dl"), o.Deadline)
	}
	if !o.MAC.IsZero() {
		b = appendBin(appendKey(b, "mc"), o.MAC[:])
	}
	if o.HVer != 0 {
		b = appendUint64(appendKey(b, "hv"), o.HVer)
	}
	if o.LastSeen != 0 {
		b = appendInt64(appendKey(b, "ls"), o.LastSeen)
	}
	for _, u := range []struct {
		k string
		v uint32
	}{{"c", o.Created}, {"id", o.Idle}, {"r", o.Reads}, {"w", o.Writes}} {
		if u.v != 0 {
			b = binary.BigEndian.AppendUint32(append(appendKey(b, u.k), 0xce), u.v)
		}
	}
	for _, f := range []struct {
		k string
		v []byte
	}{{"o", o.Owner}, {"ip", o.IP}, {"ua", o.UA}} {
		if len(f.v) > 0 {
			b = appendBin(appendKey(b, f.k), f.v)
		}
	}
	if len(o.Fields) > 0 {
		b = appendLen(appendKey(b, "fs"), len(o.Fields), 0x90, 0xdc)
		for i := range o.Fields {
			f := &o.Fields[i]
			b = appendMapLen(b, 2+count(len(f.Data) > 0))
			b = appendBin(appendKey(b, "n"), f.Name)
			b = appendUint64(appendKey(b, "v"), f.Ver)
			if len(f.Data) > 0 {
				b = appendBin(appendKey(b, "d"), f.Data)
			}
		}
	}
	return b
}

// AppendArrayLen appends a msgpack array header.
func AppendArrayLen(b []byte, n int) []byte { return appendLen(b, n, 0x90, 0xdc) }

func appendMapLen(b []byte, n int) []byte { return appendLen(b, n, 0x80, 0xde) }

// appendLen appends a map or array header: fix (n < 16), 16-bit or 32-bit length (code16+1).
func appendLen(b []byte, n int, fix, code16 byte) []byte {
	switch {
	case n < 16:
		return append(b, fix|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, code16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, code16+1), uint32(n))
}

// appendKey appends a key: our keys are short strings (fixstr).
func appendKey(b []byte, k string) []byte { return append(append(b, 0xa0|byte(len(k))), k...) }

// appendBin appends v as EncodeBytes does: nil as nil, else a bin of the fewest bytes.
func appendBin(b []byte, v []byte) []byte {
	switch n := len(v); {
	case v == nil:
		return append(b, 0xc0)
	case n <= 0xff:
		b = append(b, 0xc4, byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, v...)
}

func appendInt64(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

func appendUint64(b []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}
