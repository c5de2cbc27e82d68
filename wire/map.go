// Package wire is sessiongate's inter-node wire format: hand-written msgpack codecs for the
// sessions types that cross the network on every forwarded command and replicated op, and the
// map writer and reader that node's message codecs are built on.
//
// The bytes are exactly those msgpack's reflection produces from the struct tags of the
// sessions types (a map keyed by the tag names in field order, omitempty fields left out, ids
// and tenants as 16-byte bin, integers in the fixed widths reflection uses), so a codec and
// reflection read each other. The decoders accept what reflection accepts in a map: keys in
// any order, unknown keys skipped, nil for any field. They differ only where no encoder goes:
// a decoder starts from the zero value (reflection merges into the target), a key given twice
// keeps its last value whole (reflection merges nested structs), a struct sent as an array is
// refused, and a length longer than the rest of the input fails before anything is allocated
// (reflection allocates it, and its Skip grows the pooled decoder; see SkipValue). Decoded
// byte slices are always fresh copies, never views of the input, as with reflection.
//
// The readers take raw bytes from dec.Buffered(), which in msgpack v5 is the very reader the
// decoder reads from (a reader without ReadByte gets wrapped in a bufio.Reader once, at Reset),
// so reading it advances the decoder. The tests decode both from memory and from a stream to
// hold msgpack to that.
package wire

import (
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/sessiongate/sessiongate/sessions"
)

// errTruncated reports a length that the rest of the input cannot hold.
var errTruncated = errors.New("wire: msgpack length exceeds the input")

// maxKeyLen is longer than every key of ours: a longer key is unknown without being read.
const maxKeyLen = 8

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

// Int writes an int as reflection does: in the fewest bytes.
func (w *MapWriter) Int(k string, v int) {
	if w.Key(k) {
		w.Err = w.Enc.EncodeInt(int64(v))
	}
}

// int64 writes an int64 as reflection does: always nine bytes.
func (w *MapWriter) int64(k string, v int64) {
	if w.Key(k) {
		w.Err = w.Enc.EncodeInt64(v)
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
func (w *MapWriter) mac(k string, v *sessions.MAC) { w.bytes(k, v[:]) }

// count is 1 for true and 0 for false: a map's length is the sum of its present entries.
func count(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Put writes an entry whose value put encodes.
func Put[T any](w *MapWriter, k string, v *T, put func(*msgpack.Encoder, *T) error) {
	if w.Key(k) {
		w.Err = put(w.Enc, v)
	}
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
		err = fmt.Errorf("wire: msgpack code %#x where a map was expected", code)
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
			err = errors.New("wire: msgpack decoder without a byte reader")
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

// left is how many input bytes remain, or -1 when the decoder reads a stream.
func left(dec *msgpack.Decoder) int {
	if r, ok := dec.Buffered().(interface{ Len() int }); ok {
		return r.Len()
	}
	return -1
}
