package wire

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/sessions"
)

// streamChunk bounds what one step allocates when the input's size is unknown.
const streamChunk = 64 << 10

// ReadString reads a str (or bin, or nil as ""), bounded by the input like every length
// here, where the decoder's DecodeString has Skip's flaw.
func ReadString(dec *msgpack.Decoder) (string, error) {
	b, err := readBytes(dec)
	return string(b), err
}

// PutArray writes s under key k, each element by put; nil is nil on the wire, as with
// reflection.
func PutArray[T any](w *MapWriter, k string, s []T, put func(*msgpack.Encoder, *T) error) {
	if !w.Key(k) {
		return
	}
	if s == nil {
		w.Err = w.Enc.EncodeNil()
		return
	}
	w.Err = w.Enc.EncodeArrayLen(len(s))
	for i := 0; w.Err == nil && i < len(s); i++ {
		w.Err = put(w.Enc, &s[i])
	}
}

// ReadArray reads an array written by PutArray or by reflection, each element by read into a
// zero value, bounding its length by the input: nil stays nil and an empty array is an empty
// slice, as with reflection.
func ReadArray[T any](dec *msgpack.Decoder, read func(*msgpack.Decoder, *T) error) ([]T, error) {
	n, err := readArrayLen(dec)
	if err != nil || n < 0 {
		return nil, err
	}
	s := make([]T, 0, prealloc(dec, n))
	for i := 0; i < n; i++ {
		var zero T
		s = append(s, zero)
		if err := read(dec, &s[i]); err != nil {
			return nil, err
		}
	}
	return s, nil
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

// readMAC reads a MAC as readBin16 reads an id.
func readMAC(dec *msgpack.Decoder, v *sessions.MAC) error { return readFixed(dec, v[:], "signature") }

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
		return fmt.Errorf("wire: %s of %d bytes, want %d", what, n, len(v))
	}
	return dec.ReadFull(v)
}

// readUint16s reads an array of uint16 (a command's slots), bounded like ReadArray.
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
