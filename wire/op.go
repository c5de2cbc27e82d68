package wire

import (
	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/sessions"
)

// EncodeOp writes o as reflection would from its tags.
func EncodeOp(enc *msgpack.Encoder, o *sessions.Op) error {
	if o == nil {
		return enc.EncodeNil()
	}
	w := MapWriter{Enc: enc}
	w.Len(2 + count(o.Ended) + count(o.Forget != 0) + count(!o.Next.IsZero()) + count(o.Deadline != 0) + count(!o.MAC.IsZero()) + count(o.HVer != 0) +
		count(o.LastSeen != 0) + count(o.Created != 0) + count(o.Idle != 0) + count(o.Reads != 0) +
		count(o.Writes != 0) + count(len(o.Owner) > 0) + count(len(o.IP) > 0) + count(len(o.UA) > 0) +
		count(len(o.Fields) > 0))
	w.bin16("i", (*[16]byte)(&o.ID))
	w.bin16("t", (*[16]byte)(&o.Tenant))
	if o.Ended {
		w.bool("e", o.Ended)
	}
	if o.Forget != 0 {
		w.int64("f", o.Forget)
	}
	if !o.Next.IsZero() {
		w.bin16("nx", (*[16]byte)(&o.Next))
	}
	if o.Deadline != 0 {
		w.int64("dl", o.Deadline)
	}
	if !o.MAC.IsZero() {
		w.mac("mc", &o.MAC)
	}
	if o.HVer != 0 {
		w.uint64("hv", o.HVer)
	}
	if o.LastSeen != 0 {
		w.int64("ls", o.LastSeen)
	}
	if o.Created != 0 {
		w.uint32("c", o.Created)
	}
	if o.Idle != 0 {
		w.uint32("id", o.Idle)
	}
	if o.Reads != 0 {
		w.uint32("r", o.Reads)
	}
	if o.Writes != 0 {
		w.uint32("w", o.Writes)
	}
	if len(o.Owner) > 0 {
		w.bytes("o", o.Owner)
	}
	if len(o.IP) > 0 {
		w.bytes("ip", o.IP)
	}
	if len(o.UA) > 0 {
		w.bytes("ua", o.UA)
	}
	if len(o.Fields) > 0 {
		PutArray(&w, "fs", o.Fields, EncodeFieldOp)
	}
	return w.Err
}

// DecodeOp reads into o an op written by EncodeOp or by reflection.
func DecodeOp(dec *msgpack.Decoder, o *sessions.Op) error {
	*o = sessions.Op{}
	var m MapReader
	for m.Start(dec); m.Next(); {
		var err error
		switch string(m.Key()) {
		case "i":
			err = readBin16(dec, (*[16]byte)(&o.ID))
		case "t":
			err = readBin16(dec, (*[16]byte)(&o.Tenant))
		case "e":
			o.Ended, err = dec.DecodeBool()
		case "f":
			o.Forget, err = dec.DecodeInt64()
		case "nx":
			err = readBin16(dec, (*[16]byte)(&o.Next))
		case "dl":
			o.Deadline, err = dec.DecodeInt64()
		case "mc":
			err = readMAC(dec, &o.MAC)
		case "hv":
			o.HVer, err = dec.DecodeUint64()
		case "ls":
			o.LastSeen, err = dec.DecodeInt64()
		case "c":
			o.Created, err = dec.DecodeUint32()
		case "id":
			o.Idle, err = dec.DecodeUint32()
		case "r":
			o.Reads, err = dec.DecodeUint32()
		case "w":
			o.Writes, err = dec.DecodeUint32()
		case "o":
			o.Owner, err = readBytes(dec)
		case "ip":
			o.IP, err = readBytes(dec)
		case "ua":
			o.UA, err = readBytes(dec)
		case "fs":
			o.Fields, err = ReadArray(dec, DecodeFieldOp)
		default:
			err = SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return m.Err()
}

// EncodeFieldOp writes f as reflection would from its tags.
func EncodeFieldOp(enc *msgpack.Encoder, f *sessions.FieldOp) error {
	if f == nil {
		return enc.EncodeNil()
	}
	w := MapWriter{Enc: enc}
	w.Len(2 + count(len(f.Data) > 0))
	w.bytes("n", f.Name)
	w.uint64("v", f.Ver)
	if len(f.Data) > 0 {
		w.bytes("d", f.Data)
	}
	return w.Err
}

// DecodeFieldOp reads into f a payload change written by EncodeFieldOp or by reflection.
func DecodeFieldOp(dec *msgpack.Decoder, f *sessions.FieldOp) error {
	*f = sessions.FieldOp{}
	var m MapReader
	for m.Start(dec); m.Next(); {
		var err error
		switch string(m.Key()) {
		case "n":
			f.Name, err = readBytes(dec)
		case "v":
			f.Ver, err = dec.DecodeUint64()
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

// Ops writes a slice of ops under key k; nil is nil on the wire, as with reflection.
func (w *MapWriter) Ops(k string, ops []sessions.Op) { PutArray(w, k, ops, EncodeOp) }

// ReadOps reads a slice of ops written by MapWriter.Ops or by reflection.
func ReadOps(dec *msgpack.Decoder) ([]sessions.Op, error) { return ReadArray(dec, DecodeOp) }
