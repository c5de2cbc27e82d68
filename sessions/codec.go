package sessions

// Hand-written msgpack codecs for the types that cross the network on every forwarded command
// and replicated op. Reflection (struct-cache lookups, omitempty checks, reflect.Value boxing)
// was a large share of that cost.
//
// The bytes are exactly those msgpack's reflection produces from the struct tags (a map keyed
// by the tag names in field order, omitempty fields left out, ids and tenants as 16-byte bin,
// integers in the fixed widths reflection uses), so nodes of either version read each other
// during a rolling upgrade. The decoders accept what reflection accepts in a map: keys in any
// order, unknown keys skipped, nil for any field. They differ only where no encoder goes: each
// DecodeMsgpack starts from the zero value (reflection merges into the target), a key given
// twice keeps its last value whole (reflection merges nested structs), a struct sent as an
// array is refused, and a length longer than the rest of the input fails before anything is
// allocated (reflection allocates it, and its Skip grows the pooled decoder; see SkipValue).
// Decoded byte slices are always fresh copies, never views of the input, as with reflection.
//
// The methods have pointer receivers: msgpack finds them for *T, slice elements and fields of
// addressable structs, but fails to encode a T passed by value ("non-addressable").

import (
	"errors"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// errUnsettled refuses to send a command whose signature nobody has verified yet.
var errUnsettled = errors.New("sessions: command sent before its signature was settled")

var (
	_ msgpack.CustomEncoder = (*Command)(nil)
	_ msgpack.CustomDecoder = (*Command)(nil)
	_ msgpack.CustomEncoder = (*Update)(nil)
	_ msgpack.CustomDecoder = (*Update)(nil)
	_ msgpack.CustomEncoder = (*Result)(nil)
	_ msgpack.CustomDecoder = (*Result)(nil)
	_ msgpack.CustomEncoder = (*Field)(nil)
	_ msgpack.CustomDecoder = (*Field)(nil)
	_ msgpack.CustomEncoder = (*Info)(nil)
	_ msgpack.CustomDecoder = (*Info)(nil)
	_ msgpack.CustomEncoder = (*Op)(nil)
	_ msgpack.CustomDecoder = (*Op)(nil)
	_ msgpack.CustomEncoder = (*FieldOp)(nil)
	_ msgpack.CustomDecoder = (*FieldOp)(nil)
)

// EncodeMsgpack writes the command as reflection would from its tags, without reflection.
func (c *Command) EncodeMsgpack(enc *msgpack.Encoder) error {
	if c == nil {
		return enc.EncodeNil()
	}
	if c.Check != nil {
		return errUnsettled
	}
	w := MapWriter{Enc: enc}
	w.Len(3 + count(!c.NewID.IsZero()) + count(!c.NewMAC.IsZero()) + count(c.TTL != 0) + count(len(c.Name) > 0) + count(len(c.Data) > 0) +
		count(len(c.Owner) > 0) + count(len(c.IP) > 0) + count(len(c.UA) > 0) + count(c.Idle != 0) +
		count(c.MaxSessions != 0) + count(c.Evict) + count(len(c.Updates) > 0) + count(c.Seconds != 0) +
		count(c.Limit != 0) + count(len(c.Slots) > 0))
	w.Uint8("k", uint8(c.Kind))
	w.bin16("t", (*[16]byte)(&c.Tenant))
	w.bin16("i", (*[16]byte)(&c.ID))
	if !c.NewID.IsZero() { // only ROTATE has one; ID's IsZero makes omitempty skip the rest
		w.bin16("n", (*[16]byte)(&c.NewID))
	}
	if !c.NewMAC.IsZero() {
		w.mac("nc", &c.NewMAC)
	}
	if c.TTL != 0 {
		w.int64("ttl", c.TTL)
	}
	if len(c.Name) > 0 {
		w.bytes("nm", c.Name)
	}
	if len(c.Data) > 0 {
		w.bytes("d", c.Data)
	}
	if len(c.Owner) > 0 {
		w.bytes("o", c.Owner)
	}
	if len(c.IP) > 0 {
		w.bytes("ip", c.IP)
	}
	if len(c.UA) > 0 {
		w.bytes("ua", c.UA)
	}
	if c.Idle != 0 {
		w.uint32("id", c.Idle)
	}
	if c.MaxSessions != 0 {
		w.Int("mx", c.MaxSessions)
	}
	if c.Evict {
		w.bool("ev", c.Evict)
	}
	if len(c.Updates) > 0 {
		PutArray(&w, "u", c.Updates)
	}
	if c.Seconds != 0 {
		w.int64("s", c.Seconds)
	}
	if c.Limit != 0 {
		w.Int("l", c.Limit)
	}
	if len(c.Slots) > 0 && w.Key("sl") {
		w.Err = enc.EncodeArrayLen(len(c.Slots))
		for i := 0; w.Err == nil && i < len(c.Slots); i++ {
			w.Err = enc.EncodeUint16(c.Slots[i])
		}
	}
	return w.Err
}

// DecodeMsgpack reads a command written by EncodeMsgpack or by reflection.
func (c *Command) DecodeMsgpack(dec *msgpack.Decoder) error {
	*c = Command{}
	var m MapReader
	for m.Start(dec); m.Next(); {
		var err error
		switch string(m.Key()) {
		case "k":
			var v uint8
			v, err = dec.DecodeUint8()
			c.Kind = Kind(v)
		case "t":
			err = readBin16(dec, (*[16]byte)(&c.Tenant))
		case "i":
			err = readBin16(dec, (*[16]byte)(&c.ID))
		case "n":
			err = readBin16(dec, (*[16]byte)(&c.NewID))
		case "ttl":
			c.TTL, err = dec.DecodeInt64()
		case "nc":
			err = readMAC(dec, &c.NewMAC)
		case "nm":
			c.Name, err = readBytes(dec)
		case "d":
			c.Data, err = readBytes(dec)
		case "o":
			c.Owner, err = readBytes(dec)
		case "ip":
			c.IP, err = readBytes(dec)
		case "ua":
			c.UA, err = readBytes(dec)
		case "id":
			c.Idle, err = dec.DecodeUint32()
		case "mx":
			c.MaxSessions, err = dec.DecodeInt()
		case "ev":
			c.Evict, err = dec.DecodeBool()
		case "u":
			c.Updates, err = ReadArray[Update](dec)
		case "s":
			c.Seconds, err = dec.DecodeInt64()
		case "l":
			c.Limit, err = dec.DecodeInt()
		case "sl":
			c.Slots, err = readUint16s(dec)
		default:
			err = SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return m.Err()
}

// EncodeMsgpack writes the update as reflection would from its tags.
func (u *Update) EncodeMsgpack(enc *msgpack.Encoder) error {
	if u == nil {
		return enc.EncodeNil()
	}
	w := MapWriter{Enc: enc}
	w.Len(1 + count(len(u.Data) > 0) + count(u.Delete))
	w.bytes("n", u.Name)
	if len(u.Data) > 0 {
		w.bytes("d", u.Data)
	}
	if u.Delete {
		w.bool("x", u.Delete)
	}
	return w.Err
}

// DecodeMsgpack reads an update written by EncodeMsgpack or by reflection.
func (u *Update) DecodeMsgpack(dec *msgpack.Decoder) error {
	*u = Update{}
	var m MapReader
	for m.Start(dec); m.Next(); {
		var err error
		switch string(m.Key()) {
		case "n":
			u.Name, err = readBytes(dec)
		case "d":
			u.Data, err = readBytes(dec)
		case "x":
			u.Delete, err = dec.DecodeBool()
		default:
			err = SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return m.Err()
}

// EncodeMsgpack writes the result as reflection would from its tags; Ops stay behind.
func (r *Result) EncodeMsgpack(enc *msgpack.Encoder) error {
	if r == nil {
		return enc.EncodeNil()
	}
	w := MapWriter{Enc: enc}
	w.Len(count(r.Int != 0) + count(len(r.Data) > 0) + count(r.Info != nil) + count(len(r.Fields) > 0) +
		count(len(r.Sessions) > 0))
	if r.Int != 0 {
		w.int64("n", r.Int)
	}
	if len(r.Data) > 0 {
		w.bytes("d", r.Data)
	}
	if r.Info != nil {
		w.Value("i", r.Info)
	}
	if len(r.Fields) > 0 {
		PutArray(&w, "f", r.Fields)
	}
	if len(r.Sessions) > 0 {
		PutArray(&w, "s", r.Sessions)
	}
	return w.Err
}

// DecodeMsgpack reads a result written by EncodeMsgpack or by reflection.
func (r *Result) DecodeMsgpack(dec *msgpack.Decoder) error {
	*r = Result{}
	var m MapReader
	for m.Start(dec); m.Next(); {
		var err error
		switch string(m.Key()) {
		case "n":
			r.Int, err = dec.DecodeInt64()
		case "d":
			r.Data, err = readBytes(dec)
		case "i":
			r.Info = nil // a nil on the wire is a nil pointer, not an empty Info
			var code byte
			if code, err = dec.PeekCode(); err == nil && code == msgpcode.Nil {
				err = dec.DecodeNil()
			} else if err == nil {
				r.Info = new(Info)
				err = r.Info.DecodeMsgpack(dec)
			}
		case "f":
			r.Fields, err = ReadArray[Field](dec)
		case "s":
			r.Sessions, err = ReadArray[Info](dec)
		default:
			err = SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return m.Err()
}

// EncodeMsgpack writes the payload as reflection would from its tags.
func (f *Field) EncodeMsgpack(enc *msgpack.Encoder) error {
	if f == nil {
		return enc.EncodeNil()
	}
	w := MapWriter{Enc: enc}
	w.Len(2)
	w.bytes("n", f.Name)
	w.bytes("d", f.Data)
	return w.Err
}

// DecodeMsgpack reads a payload written by EncodeMsgpack or by reflection.
func (f *Field) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = Field{}
	var m MapReader
	for m.Start(dec); m.Next(); {
		var err error
		switch string(m.Key()) {
		case "n":
			f.Name, err = readBytes(dec)
		case "d":
			f.Data, err = readBytes(dec)
		default:
			err = SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return m.Err()
}

// EncodeMsgpack writes the session description as reflection would from its tags.
func (in *Info) EncodeMsgpack(enc *msgpack.Encoder) error {
	if in == nil {
		return enc.EncodeNil()
	}
	w := MapWriter{Enc: enc}
	w.Len(7 + count(len(in.Owner) > 0) + count(len(in.IP) > 0) + count(len(in.UA) > 0) +
		count(in.IdleTimeout != 0))
	w.bin16("i", (*[16]byte)(&in.ID))
	if len(in.Owner) > 0 {
		w.bytes("o", in.Owner)
	}
	if len(in.IP) > 0 {
		w.bytes("ip", in.IP)
	}
	if len(in.UA) > 0 {
		w.bytes("ua", in.UA)
	}
	w.int64("c", in.Created)
	w.int64("ls", in.LastSeen)
	w.int64("t", in.TTL)
	if in.IdleTimeout != 0 {
		w.uint32("it", in.IdleTimeout)
	}
	w.uint32("r", in.Reads)
	w.uint32("w", in.Writes)
	w.Int("p", in.Payloads)
	return w.Err
}

// DecodeMsgpack reads a session description written by EncodeMsgpack or by reflection.
func (in *Info) DecodeMsgpack(dec *msgpack.Decoder) error {
	*in = Info{}
	var m MapReader
	for m.Start(dec); m.Next(); {
		var err error
		switch string(m.Key()) {
		case "i":
			err = readBin16(dec, (*[16]byte)(&in.ID))
		case "o":
			in.Owner, err = readBytes(dec)
		case "ip":
			in.IP, err = readBytes(dec)
		case "ua":
			in.UA, err = readBytes(dec)
		case "c":
			in.Created, err = dec.DecodeInt64()
		case "ls":
			in.LastSeen, err = dec.DecodeInt64()
		case "t":
			in.TTL, err = dec.DecodeInt64()
		case "it":
			in.IdleTimeout, err = dec.DecodeUint32()
		case "r":
			in.Reads, err = dec.DecodeUint32()
		case "w":
			in.Writes, err = dec.DecodeUint32()
		case "p":
			in.Payloads, err = dec.DecodeInt()
		default:
			err = SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return m.Err()
}
