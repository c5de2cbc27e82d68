package sessions

import (
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// The building blocks of the codecs in codec.go and codec_op.go, exported for node's
// message codecs so that the bounds on untrusted input live in one place.
//
// They read raw bytes from dec.Buffered(), which in msgpack v5 is the very reader the decoder
// reads from (a reader without ReadByte gets wrapped in a bufio.Reader once, at Reset), so
// reading it advances the decoder. The codec tests decode both from memory and from a stream
// to hold msgpack to that.

// errTruncated reports a length that the rest of the input cannot hold.
var errTruncated = errors.New("sessions: msgpack length exceeds the input")

// maxKeyLen is longer than every key of ours: a longer key is unknown without being read.
const maxKeyLen = 8

// streamChunk bounds what one step allocates when the input's size is unknown.
const streamChunk = 64 << 10

// MapWriter writes a msgpack map entry by entry and keeps the first error, so that a codec
// reads as the list of its fields.
type MapWriter struct {
	Enc *msgpack.Encoder
	Err error // the first error; every later write is skipped
}

// Len writes the map header; n must be the number of entries that follow.
func (w *MapWriter) Len(n int) {
	if w.Err == nil {
		w.Err = w.Enc.EncodeMapLen(n)
	}
}

// Key writes a key and reports whether the value may follow (no error so far).
func (w *MapWriter) Key(k string) bool {
	if w.Err == nil {
		w.Err = w.Enc.EncodeString(k)
	}
	return w.Err == nil
}

// Value writes an entry whose value encodes itself.
func (w *MapWriter) Value(k string, v msgpack.CustomEncoder) {
	if w.Key(k) {
		w.Err = v.EncodeMsgpack(w.Enc)
	}
}

// Int writes an int as reflection does: in the fewest bytes.
func (w *MapWriter) Int(k string, v int) {
	if w.Key(k) {
		w.Err = w.Enc.EncodeInt(int64(v))
	}
}

// Uint8 writes a uint8 as reflection does: always two bytes.
func (w *MapWriter) Uint8(k string, v uint8) {
	if w.Key(k) {
		w.Err = w.Enc.EncodeUint8(v)
	}
}

// String writes a string entry.
func (w *MapWriter) String(k string, v string) {
	if w.Key(k) {
		w.Err = w.Enc.EncodeString(v)
	}
}

// Ops writes a slice of ops; nil is nil on the wire, as with reflection.
func (w *MapWriter) Ops(k string, ops []Op) { PutArray(w, k, ops) }

func (w *MapWriter) int64(k string, v int64) {
	if w.Key(k) {
		w.Err = w.Enc.EncodeInt64(v)
	}
}

func (w *MapWriter) uint32(k string, v uint32) {
	if w.Key(k) {
		w.Err = w.Enc.EncodeUint32(v)
	}
}

func (w *MapWriter) uint64(k string, v uint64) {
	if w.Key(k) {
		w.Err = w.Enc.EncodeUint64(v)
	}
}

func (w *MapWriter) bool(k string, v bool) {
	if w.Key(k) {
		w.Err = w.Enc.EncodeBool(v)
	}
}

// bytes writes nil as nil, as reflection does for fields without omitempty.
func (w *MapWriter) bytes(k string, v []byte) {
	if w.Key(k) {
		w.Err = w.Enc.EncodeBytes(v)
	}
}

// bin16 writes an id or tenant as the 16-byte bin its MarshalBinary gives reflection.
func (w *MapWriter) bin16(k string, v *[16]byte) { w.bytes(k, v[:]) }

// mac writes a MAC as the 32-byte bin its MarshalBinary gives reflection.
func (w *MapWriter) mac(k string, v *MAC) { w.bytes(k, v[:]) }

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}

// MapReader walks the keys of a msgpack map without allocating; the caller decodes each value
// or steps over it with SkipValue. A nil map has no keys, as reflection reads it into a zero
// struct.
type MapReader struct {
	dec  *msgpack.Decoder
	n    int
	err  error
	klen int
	kb   [maxKeyLen]byte
}

// Start reads the map header.
func (m *MapReader) Start(dec *msgpack.Decoder) {
	*m = MapReader{dec: dec}
	code, err := dec.PeekCode()
	if err == nil && msgpcode.IsExt(code) {
		// DecodeMapLen would step over an extension header; reflection refuses one.
		err = fmt.Errorf("sessions: msgpack code %#x where a map was expected", code)
	}
	if err == nil {
		m.n, err = dec.DecodeMapLen()
	}
	m.err = err
}

// Next reads the next key and reports whether there is one to handle.
func (m *MapReader) Next() bool {
	if m.err != nil || m.n <= 0 {
		return false
	}
	m.n--
	m.klen = 0
	n, err := m.dec.DecodeBytesLen()
	switch {
	case err != nil:
	case n > maxKeyLen:
		err = discard(m.dec, n) // not one of ours: the caller skips its value
	case n > 0:
		// Byte by byte: a buffer handed to an io.Reader would escape to the heap.
		br, ok := m.dec.Buffered().(io.ByteReader)
		if !ok {
			err = errors.New("sessions: msgpack decoder without a byte reader")
		}
		for i := 0; err == nil && i < n; i++ {
			m.kb[i], err = br.ReadByte()
		}
		m.klen = n
	}
	m.err = err
	return err == nil
}

// Key is the current key, valid until the next call to Next; an empty key is unknown.
func (m *MapReader) Key() []byte { return m.kb[:m.klen] }

// Err is the error that stopped Next, if any.
func (m *MapReader) Err() error { return m.err }

// SkipValue steps over one value of any kind, like the decoder's Skip but without its flaw:
// Skip reads a str, bin or ext body into the decoder's own buffer, which grows by a megabyte
// or more for every truncated long body and stays with the pooled decoder, so a stream of
// tiny frames can make it take gigabytes. SkipValue checks bodies against the input and
// discards them in place, and walks nested arrays and maps without recursion.
func SkipValue(dec *msgpack.Decoder) error {
	for pending := 1; pending > 0; pending-- {
		code, err := dec.PeekCode()
		if err != nil {
			return err
		}
		var n int
		switch {
		case msgpcode.IsFixedMap(code) || code == msgpcode.Map16 || code == msgpcode.Map32:
			n, err = dec.DecodeMapLen()
			pending += 2 * n
		case msgpcode.IsFixedArray(code) || code == msgpcode.Array16 || code == msgpcode.Array32:
			n, err = dec.DecodeArrayLen()
			pending += n
		case msgpcode.IsString(code) || msgpcode.IsBin(code):
			if n, err = dec.DecodeBytesLen(); err == nil {
				err = discard(dec, n)
			}
		case msgpcode.IsExt(code):
			if _, n, err = dec.DecodeExtHeader(); err == nil {
				err = discard(dec, n)
			}
		default: // a value of fixed size, or a code the decoder refuses
			err = dec.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// discard steps over n bytes of input without reading them into memory.
func discard(dec *msgpack.Decoder, n int) error {
	if l := left(dec); l >= 0 && n > l {
		return fmt.Errorf("%w: %d bytes, %d left", errTruncated, n, l)
	}
	k, err := io.CopyN(io.Discard, dec.Buffered(), int64(n))
	if err == nil && k != int64(n) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// ReadString reads a str (or bin, or nil as ""), bounded by the input like readBytes, where
// the decoder's DecodeString has Skip's flaw.
func ReadString(dec *msgpack.Decoder) (string, error) {
	b, err := readBytes(dec)
	return string(b), err
}

// left is how many input bytes remain, or -1 when the decoder reads a stream.
func left(dec *msgpack.Decoder) int {
	if r, ok := dec.Buffered().(interface{ Len() int }); ok {
		return r.Len()
	}
	return -1
}

// readArrayLen reads an array header (-1 for nil) and refuses a length longer than the rest of
// the input: every element takes a byte at least.
func readArrayLen(dec *msgpack.Decoder) (int, error) {
	n, err := dec.DecodeArrayLen()
	if err == nil && n > 0 {
		if l := left(dec); l >= 0 && n > l {
			return 0, fmt.Errorf("%w: array of %d, %d bytes left", errTruncated, n, l)
		}
	}
	return n, err
}

// prealloc is how many elements of a checked array length to allocate up front: all of them
// when the input bounds them, a few when reading a stream.
func prealloc(dec *msgpack.Decoder, n int) int {
	if left(dec) < 0 {
		return min(n, 64)
	}
	return n
}

// readBytes reads bin or str into a fresh slice that never shares the input's memory: nil
// for nil, empty for empty, as reflection does.
func readBytes(dec *msgpack.Decoder) ([]byte, error) {
	n, err := dec.DecodeBytesLen()
	if err != nil || n < 0 {
		return nil, err
	}
	l := left(dec)
	if l >= 0 && n > l {
		return nil, fmt.Errorf("%w: %d bytes, %d left", errTruncated, n, l)
	}
	if l >= 0 || n <= streamChunk {
		b := make([]byte, n)
		if err := dec.ReadFull(b); err != nil {
			return nil, err
		}
		return b, nil
	}
	// A stream: grow with what arrives, so that a false length costs no more than the input.
	b := make([]byte, 0, streamChunk)
	for len(b) < n {
		k := min(n-len(b), streamChunk)
		b = append(b, make([]byte, k)...)
		if err := dec.ReadFull(b[len(b)-k:]); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// readBin16 reads an id or tenant: nil is the zero value, any length but 16 an error, as
// reflection does through UnmarshalBinary.
func readBin16(dec *msgpack.Decoder, v *[16]byte) error { return readFixed(dec, v[:], "id or tenant") }

// readFixed reads a bin of exactly len(v) bytes into v; nil clears v.
func readFixed(dec *msgpack.Decoder, v []byte, what string) error {
	n, err := dec.DecodeBytesLen()
	switch {
	case err != nil:
		return err
	case n < 0:
		clear(v)
		return nil
	case n != len(v):
		return fmt.Errorf("sessions: %s of %d bytes, want %d", what, n, len(v))
	}
	return dec.ReadFull(v)
}

// readMAC reads a MAC as readBin16 reads an id.
func readMAC(dec *msgpack.Decoder, v *MAC) error { return readFixed(dec, v[:], "signature") }

// Codec is what the element types of arrays implement (pointer receivers).
type Codec[T any] interface {
	*T
	msgpack.CustomEncoder
	msgpack.CustomDecoder
}

// PutArray writes a slice of structs with hand-written codecs under key k; nil is nil on the
// wire, as with reflection.
func PutArray[T any, P Codec[T]](w *MapWriter, k string, s []T) {
	if !w.Key(k) {
		return
	}
	if s == nil {
		w.Err = w.Enc.EncodeNil()
		return
	}
	w.Err = w.Enc.EncodeArrayLen(len(s))
	for i := 0; w.Err == nil && i < len(s); i++ {
		w.Err = P(&s[i]).EncodeMsgpack(w.Enc)
	}
}

// ReadArray reads a slice of structs written by PutArray or by reflection, bounding its length
// by the input: nil stays nil and an empty array is an empty slice, as with reflection.
func ReadArray[T any, P Codec[T]](dec *msgpack.Decoder) ([]T, error) {
	n, err := readArrayLen(dec)
	if err != nil || n < 0 {
		return nil, err
	}
	s := make([]T, 0, prealloc(dec, n))
	for i := 0; i < n; i++ {
		var zero T
		s = append(s, zero)
		if err := P(&s[i]).DecodeMsgpack(dec); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ReadOps reads a slice of ops written by MapWriter.Ops or by reflection.
func ReadOps(dec *msgpack.Decoder) ([]Op, error) { return ReadArray[Op](dec) }

func readUint16s(dec *msgpack.Decoder) ([]uint16, error) {
	n, err := readArrayLen(dec)
	if err != nil || n < 0 {
		return nil, err
	}
	s := make([]uint16, 0, prealloc(dec, n))
	for i := 0; i < n; i++ {
		v, err := dec.DecodeUint16()
		if err != nil {
			return nil, err
		}
		s = append(s, v)
	}
	return s, nil
}
