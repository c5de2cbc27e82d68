package node

// Hand-written msgpack codecs for the messages of the hot methods (forward, scatter, apply),
// built on sessions' codecs and with their rules: the bytes are those reflection writes from
// the tags, the decoders read reflection's output too, and they bound every length by the
// input. The receivers are pointers, so a message must be passed to Call as &msg: msgpack
// cannot take the address of a value inside an interface and fails with "non-addressable".

import (
	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/sessions"
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
	w := sessions.MapWriter{Enc: enc}
	w.Len(2 + count(m.Via != "") + count(m.Deadline != 0))
	w.Value("c", &m.Cmd)
	w.Int("h", m.Hops)
	if m.Via != "" {
		w.String("v", m.Via)
	}
	putDeadline(&w, m.Deadline)
	return w.Err
}

func (m *commandMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = commandMsg{}
	var r sessions.MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "c":
			err = m.Cmd.DecodeMsgpack(dec)
		case "h":
			m.Hops, err = dec.DecodeInt()
		case "v":
			m.Via, err = sessions.ReadString(dec)
		case "dl":
			m.Deadline, err = dec.DecodeInt64()
		default:
			err = sessions.SkipValue(dec)
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
	w := sessions.MapWriter{Enc: enc}
	w.Len(1 + count(m.Code != 0) + count(m.Max != 0) + count(m.Msg != "") + count(len(m.Ops) > 0))
	w.Value("r", &m.Result)
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
	var r sessions.MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "r":
			err = m.Result.DecodeMsgpack(dec)
		case "c":
			var c uint8
			c, err = dec.DecodeUint8()
			m.Code = sessions.Code(c)
		case "m":
			m.Max, err = dec.DecodeInt()
		case "e":
			m.Msg, err = sessions.ReadString(dec)
		case "o":
			m.Ops, err = sessions.ReadOps(dec)
		default:
			err = sessions.SkipValue(dec)
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
	w := sessions.MapWriter{Enc: enc}
	w.Len(1)
	w.Ops("o", m.Ops)
	return w.Err
}

func (m *opsMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = opsMsg{}
	var r sessions.MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "o":
			m.Ops, err = sessions.ReadOps(dec)
		default:
			err = sessions.SkipValue(dec)
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
	w := sessions.MapWriter{Enc: enc}
	w.Len(2 + count(m.Via != "") + count(m.Deadline != 0))
	sessions.PutArray(&w, "c", m.Cmds)
	w.Int("h", m.Hops)
	if m.Via != "" {
		w.String("v", m.Via)
	}
	putDeadline(&w, m.Deadline)
	return w.Err
}

func (m *batchMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = batchMsg{}
	var r sessions.MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "c":
			m.Cmds, err = sessions.ReadArray[sessions.Command](dec)
		case "h":
			m.Hops, err = dec.DecodeInt()
		case "v":
			m.Via, err = sessions.ReadString(dec)
		case "dl":
			m.Deadline, err = dec.DecodeInt64()
		default:
			err = sessions.SkipValue(dec)
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
	w := sessions.MapWriter{Enc: enc}
	w.Len(1)
	sessions.PutArray(&w, "r", m.Results)
	return w.Err
}

func (m *batchResultMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = batchResultMsg{}
	var r sessions.MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "r":
			m.Results, err = sessions.ReadArray[resultMsg](dec)
		default:
			err = sessions.SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

// putDeadline writes a deadline as reflection writes an int64 (always nine bytes), if set.
func putDeadline(w *sessions.MapWriter, d int64) {
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
