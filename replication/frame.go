// Package replication is the node-to-node protocol: length-prefixed frames carrying msgpack
// payloads over persistent TCP connections, with many calls multiplexed on each connection
// and answered out of order. It knows nothing of sessions: the node layer picks the methods
// and their payloads (forwarded commands, replicated ops, partition streams, digests).
package replication

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Method names a call; its meaning belongs to the caller.
type Method uint8

// Frame layout: length u32 (of everything after it), id u64, kind u8, method u8, payload.
const headerLen = 4 + 8 + 1 + 1

const (
	kindRequest byte = 1
	kindOK      byte = 2
	kindError   byte = 3 // payload is the error text
)

// DefaultMaxFrame bounds a frame unless configured otherwise.
const DefaultMaxFrame = 64 << 20

var errFrameTooLarge = errors.New("replication: frame too large")

type frame struct {
	id      uint64
	kind    byte
	method  Method
	payload []byte
}

// readFrame reads one frame, refusing sizes over max before allocating.
func readFrame(r *bufio.Reader, max int) (frame, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	n := int(binary.BigEndian.Uint32(h[:4]))
	if n < headerLen-4 || n-(headerLen-4) > max {
		return frame{}, fmt.Errorf("%w: %d bytes", errFrameTooLarge, n)
	}
	f := frame{id: binary.BigEndian.Uint64(h[4:12]), kind: h[12], method: Method(h[13])}
	var err error
	if f.payload, err = readGrowing(r, n-(headerLen-4)); err != nil {
		return frame{}, err
	}
	return f, nil
}

// growStep is the most a frame's buffer is allocated ahead of the bytes that arrived.
const growStep = 4 << 10

// readGrowing reads n bytes into a buffer that grows as they arrive, never more than
// doubling what is there: a length field alone cannot make the reader allocate. A frame
// already buffered whole is allocated once.
func readGrowing(r *bufio.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, min(n, max(growStep, r.Buffered())))
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(n, 2*cap(b))-len(b))
		}
		m := min(n, cap(b))
		if _, err := io.ReadFull(r, b[len(b):m]); err != nil {
			return nil, err
		}
		b = b[:m]
	}
	return b, nil
}

// appendFrame encodes a frame whose payload is already in buf[headerLen:].
func finishFrame(buf []byte, id uint64, kind byte, m Method) []byte {
	binary.BigEndian.PutUint32(buf[:4], uint32(len(buf)-4))
	binary.BigEndian.PutUint64(buf[4:12], id)
	buf[12] = kind
	buf[13] = byte(m)
	return buf
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuf() *[]byte {
	b := bufPool.Get().(*[]byte)
	*b = append((*b)[:0], make([]byte, headerLen)...)
	return b
}

func putBuf(b *[]byte) {
	if cap(*b) <= 1<<20 {
		bufPool.Put(b)
	}
}

// byteWriter appends to a byte slice, for msgpack encoding straight into a frame.
type byteWriter struct{ b *[]byte }

func (w byteWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

// WriteByte and WriteString make byteWriter a msgpack writer, which msgpack would otherwise
// wrap in a buffered writer of its own on every encode.
func (w byteWriter) WriteByte(c byte) error {
	*w.b = append(*w.b, c)
	return nil
}

func (w byteWriter) WriteString(s string) (int, error) {
	*w.b = append(*w.b, s...)
	return len(s), nil
}

// encodeInto appends v's msgpack encoding to b, with a pooled encoder.
func encodeInto(b *[]byte, v any) error {
	enc := msgpack.GetEncoder()
	enc.Reset(byteWriter{b})
	err := enc.Encode(v)
	msgpack.PutEncoder(enc)
	return err
}

// decodeFrom decodes payload into v, with a pooled decoder.
func decodeFrom(payload []byte, v any) error {
	dec := msgpack.GetDecoder()
	dec.Reset(bytes.NewReader(payload))
	err := dec.Decode(v)
	msgpack.PutDecoder(dec)
	return err
}
