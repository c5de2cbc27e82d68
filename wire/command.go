package wire

import (
	"errors"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/sessions"
)

// errUnsettled refuses to send a command whose signature nobody has verified yet.
var errUnsettled = errors.New("wire: command sent before its signature was settled")

// EncodeCommand writes c as reflection would from its tags; it refuses a command whose
// signature is not settled (Check set), which must not leave the process.
func EncodeCommand(enc *msgpack.Encoder, c *sessions.Command) error {
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
		PutArray(&w, "u", c.Updates, EncodeUpdate)
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

// DecodeCommand reads into c a command written by EncodeCommand or by reflection.
func DecodeCommand(dec *msgpack.Decoder, c *sessions.Command) error {
	*c = sessions.Command{}
	var m MapReader
	for m.Start(dec); m.Next(); {
		var err error
		switch string(m.Key()) {
		case "k":
			var v uint8
			v, err = dec.DecodeUint8()
			c.Kind = sessions.Kind(v)
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
			c.Updates, err = ReadArray(dec, DecodeUpdate)
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

// EncodeUpdate writes u as reflection would from its tags.
func EncodeUpdate(enc *msgpack.Encoder, u *sessions.Update) error {
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

// DecodeUpdate reads into u an update written by EncodeUpdate or by reflection.
func DecodeUpdate(dec *msgpack.Decoder, u *sessions.Update) error {
	*u = sessions.Update{}
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
