package wire

import (
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/sessiongate/sessiongate/sessions"
)

// EncodeResult writes r as reflection would from its tags; its Ops are never sent.
func EncodeResult(enc *msgpack.Encoder, r *sessions.Result) error {
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
		Put(&w, "i", r.Info, EncodeInfo)
	}
	if len(r.Fields) > 0 {
		PutArray(&w, "f", r.Fields, EncodeField)
	}
	if len(r.Sessions) > 0 {
		PutArray(&w, "s", r.Sessions, EncodeInfo)
	}
	return w.Err
}

// DecodeResult reads into r a result written by EncodeResult or by reflection.
func DecodeResult(dec *msgpack.Decoder, r *sessions.Result) error {
	*r = sessions.Result{}
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
				r.Info = new(sessions.Info)
				err = DecodeInfo(dec, r.Info)
			}
		case "f":
			r.Fields, err = ReadArray(dec, DecodeField)
		case "s":
			r.Sessions, err = ReadArray(dec, DecodeInfo)
		default:
			err = SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return m.Err()
}

// EncodeField writes f as reflection would from its tags.
func EncodeField(enc *msgpack.Encoder, f *sessions.Field) error {
	if f == nil {
		return enc.EncodeNil()
	}
	w := MapWriter{Enc: enc}
	w.Len(2)
	w.bytes("n", f.Name)
	w.bytes("d", f.Data)
	return w.Err
}

// DecodeField reads into f a payload written by EncodeField or by reflection.
func DecodeField(dec *msgpack.Decoder, f *sessions.Field) error {
	*f = sessions.Field{}
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

// EncodeInfo writes in as reflection would from its tags.
func EncodeInfo(enc *msgpack.Encoder, in *sessions.Info) error {
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

// DecodeInfo reads into in a session description written by EncodeInfo or by reflection.
func DecodeInfo(dec *msgpack.Decoder, in *sessions.Info) error {
	*in = sessions.Info{}
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
