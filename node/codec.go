package node

// Hand-written msgpack codecs for the messages of the hot methods (forward, scatter, apply),
// built on package wire and with its rules: the bytes are those reflection writes from the
// tags, the decoders read reflection's output too, and they bound every length by the input.
// The receivers are pointers, so a message must be passed to Call as &msg: msgpack cannot take
// the address of a value inside an interface and fails with "non-addressable".

import (
	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

var (
	_ msgpack.CustomEncoder = (*commandMsg)(nil)
	_ msgpack.CustomDecoder = (*commandMsg)(nil)
	_ msgpack.CustomEncoder = (*resultMsg)(nil)
	_ msgpack.CustomDecoder = (*resultMsg)(nil)
	_ msgpack.CustomEncoder = (*opsMsg)(nil)
	_ msgpack.CustomDecoder = (*opsMsg)(nil)
	_ msgpack.CustomEncoder = (*batchMsg)(nil)
	_ msgpack.CustomDecoder = (*batchMsg)(nil)
	_ msgpack.CustomEncoder = (*batchResultMsg)(nil)
	_ msgpack.CustomDecoder = (*batchResultMsg)(nil)
)

func (m *commandMsg) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	w := wire.MapWriter{Enc: enc}
	w.Len(2 + count(m.Via != "") + count(m.Deadline != 0))
	wire.Put(&w, "c", &m.Cmd, wire.EncodeCommand)
	w.Int("h", m.Hops)
	if m.Via != "" {
		w.String("v", m.Via)
	}
	putDeadline(&w, m.Deadline)
	return w.Err
}

func (m *commandMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = commandMsg{}
	var r wire.MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "c":
			err = wire.DecodeCommand(dec, &m.Cmd)
		case "h":
			m.Hops, err = dec.DecodeInt()
		case "v":
			m.Via, err = wire.ReadString(dec)
		case "dl":
			m.Deadline, err = dec.DecodeInt64()
		default:
			err = wire.SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

func (m *resultMsg) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	w := wire.MapWriter{Enc: enc}
	w.Len(1 + count(m.Code != 0) + count(m.Max != 0) + count(m.Msg != "") + count(len(m.Ops) > 0))
	wire.Put(&w, "r", &m.Result, wire.EncodeResult)
	if m.Code != 0 {
		w.Uint8("c", uint8(m.Code))
	}
	if m.Max != 0 {
		w.Int("m", m.Max)
	}
	if m.Msg != "" {
		w.String("e", m.Msg)
	}
	if len(m.Ops) > 0 {
		w.Ops("o", m.Ops)
	}
	return w.Err
}

func (m *resultMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = resultMsg{}
	var r wire.MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "r":
			err = wire.DecodeResult(dec, &m.Result)
		case "c":
			var c uint8
			c, err = dec.DecodeUint8()
			m.Code = sessions.Code(c)
		case "m":
			m.Max, err = dec.DecodeInt()
		case "e":
			m.Msg, err = wire.ReadString(dec)
		case "o":
			m.Ops, err = wire.ReadOps(dec)
		default:
			err = wire.SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

func (m *opsMsg) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	w := wire.MapWriter{Enc: enc}
	w.Len(1)
	w.Ops("o", m.Ops)
	return w.Err
}

func (m *opsMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = opsMsg{}
	var r wire.MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "o":
			m.Ops, err = wire.ReadOps(dec)
		default:
			err = wire.SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

func (m *batchMsg) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	w := wire.MapWriter{Enc: enc}
	w.Len(2 + count(m.Via != "") + count(m.Deadline != 0))
	wire.PutArray(&w, "c", m.Cmds, wire.EncodeCommand)
	w.Int("h", m.Hops)
	if m.Via != "" {
		w.String("v", m.Via)
	}
	putDeadline(&w, m.Deadline)
	return w.Err
}

func (m *batchMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = batchMsg{}
	var r wire.MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "c":
			m.Cmds, err = wire.ReadArray(dec, wire.DecodeCommand)
		case "h":
			m.Hops, err = dec.DecodeInt()
		case "v":
			m.Via, err = wire.ReadString(dec)
		case "dl":
			m.Deadline, err = dec.DecodeInt64()
		default:
			err = wire.SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

func (m *batchResultMsg) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	w := wire.MapWriter{Enc: enc}
	w.Len(1)
	wire.PutArray(&w, "r", m.Results, encodeResultMsg)
	return w.Err
}

func (m *batchResultMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = batchResultMsg{}
	var r wire.MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "r":
			m.Results, err = wire.ReadArray(dec, decodeResultMsg)
		default:
			err = wire.SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

// encodeResultMsg and decodeResultMsg are resultMsg's codec as wire's arrays take it.
func encodeResultMsg(enc *msgpack.Encoder, m *resultMsg) error { return m.EncodeMsgpack(enc) }

func decodeResultMsg(dec *msgpack.Decoder, m *resultMsg) error { return m.DecodeMsgpack(dec) }

// putDeadline writes a deadline as reflection writes an int64 (always nine bytes), if set.
func putDeadline(w *wire.MapWriter, d int64) {
	if d != 0 && w.Key("dl") {
		w.Err = w.Enc.EncodeInt64(d)
	}
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}
