package wire

// Hand-written msgpack codecs for the messages of the hot methods (forward, scatter, apply),
// built on package wire and with its rules: the bytes are those reflection writes from the
// tags, the decoders read reflection's output too, and they bound every length by the input.
// The receivers are pointers, so a message must be passed to Call as &msg: msgpack cannot take
// the address of a value inside an interface and fails with "non-addressable".

import (
	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/sessions"
)

var (
	_ msgpack.CustomEncoder = (*CommandMsg)(nil)
	_ msgpack.CustomDecoder = (*CommandMsg)(nil)
	_ msgpack.CustomEncoder = (*ResultMsg)(nil)
	_ msgpack.CustomDecoder = (*ResultMsg)(nil)
	_ msgpack.CustomEncoder = (*OpsMsg)(nil)
	_ msgpack.CustomDecoder = (*OpsMsg)(nil)
	_ msgpack.CustomEncoder = (*BatchMsg)(nil)
	_ msgpack.CustomDecoder = (*BatchMsg)(nil)
	_ msgpack.CustomEncoder = (*BatchResultMsg)(nil)
	_ msgpack.CustomDecoder = (*BatchResultMsg)(nil)
)

func (m *CommandMsg) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	w := MapWriter{Enc: enc}
	w.Len(2 + count(m.Via != "") + count(m.Deadline != 0))
	Put(&w, "c", &m.Cmd, EncodeCommand)
	putRoute(&w, m.Hops, m.Via, m.Deadline)
	return w.Err
}

func (m *CommandMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = CommandMsg{}
	var r MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "c":
			err = DecodeCommand(dec, &m.Cmd)
		default:
			err = readRoute(dec, r.Key(), &m.Hops, &m.Via, &m.Deadline)
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

func (m *ResultMsg) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	w := MapWriter{Enc: enc}
	w.Len(1 + count(m.Code != 0) + count(m.Max != 0) + count(m.Msg != "") + count(len(m.Ops) > 0))
	Put(&w, "r", &m.Result, EncodeResult)
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

func (m *ResultMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = ResultMsg{}
	var r MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "r":
			err = DecodeResult(dec, &m.Result)
		case "c":
			var c uint8
			c, err = dec.DecodeUint8()
			m.Code = sessions.Code(c)
		case "m":
			m.Max, err = dec.DecodeInt()
		case "e":
			m.Msg, err = ReadString(dec)
		case "o":
			m.Ops, err = ReadOps(dec)
		default:
			err = SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

func (m *OpsMsg) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	w := MapWriter{Enc: enc}
	w.Len(1)
	w.Ops("o", m.Ops)
	return w.Err
}

func (m *OpsMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = OpsMsg{}
	var r MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "o":
			m.Ops, err = ReadOps(dec)
		default:
			err = SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

func (m *BatchMsg) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	w := MapWriter{Enc: enc}
	w.Len(2 + count(m.Via != "") + count(m.Deadline != 0))
	PutArray(&w, "c", m.Cmds, EncodeCommand)
	putRoute(&w, m.Hops, m.Via, m.Deadline)
	return w.Err
}

func (m *BatchMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = BatchMsg{}
	var r MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "c":
			m.Cmds, err = ReadArray(dec, DecodeCommand)
		default:
			err = readRoute(dec, r.Key(), &m.Hops, &m.Via, &m.Deadline)
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

func (m *BatchResultMsg) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	w := MapWriter{Enc: enc}
	w.Len(1)
	PutArray(&w, "r", m.Results, encodeResultMsg)
	return w.Err
}

func (m *BatchResultMsg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = BatchResultMsg{}
	var r MapReader
	for r.Start(dec); r.Next(); {
		var err error
		switch string(r.Key()) {
		case "r":
			m.Results, err = ReadArray(dec, decodeResultMsg)
		default:
			err = SkipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

// encodeResultMsg and decodeResultMsg are ResultMsg's codec as wire's arrays take it.
func encodeResultMsg(enc *msgpack.Encoder, m *ResultMsg) error { return m.EncodeMsgpack(enc) }

func decodeResultMsg(dec *msgpack.Decoder, m *ResultMsg) error { return m.DecodeMsgpack(dec) }

// putRoute writes the routing fields of a forwarded command or batch: hops, and via and the
// deadline when set (a deadline as reflection writes an int64: always nine bytes).
func putRoute(w *MapWriter, hops int, via string, deadline int64) {
	w.Int("h", hops)
	if via != "" {
		w.String("v", via)
	}
	if deadline != 0 && w.Key("dl") {
		w.Err = w.Enc.EncodeInt64(deadline)
	}
}

// readRoute reads the value of key if it is a routing field, and skips it otherwise.
func readRoute(dec *msgpack.Decoder, key []byte, hops *int, via *string, deadline *int64) error {
	var err error
	switch string(key) {
	case "h":
		*hops, err = dec.DecodeInt()
	case "v":
		*via, err = ReadString(dec)
	case "dl":
		*deadline, err = dec.DecodeInt64()
	default:
		err = SkipValue(dec)
	}
	return err
}
