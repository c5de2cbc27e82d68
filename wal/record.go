package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// A record on disk is its length (4 bytes, little endian), a CRC-32C of the length and the
// payload (4 bytes), then the payload. A zero length is never written: a run of zeros is
// where a segment's preallocated or torn space begins.
const headerSize = 8

// MaxRecord bounds one record's payload.
const MaxRecord = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC of a record's length bytes and payload.
func checksum(lenBytes, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(lenBytes, castagnoli), castagnoli, payload)
}

// checkSize refuses a payload no record may hold.
func checkSize(payload []byte) error {
	if len(payload) == 0 || len(payload) > MaxRecord {
		return fmt.Errorf("wal: a record of %d bytes (1 to %d)", len(payload), MaxRecord)
	}
	return nil
}

// header is the header of the record with payload.
func header(payload []byte) (h [headerSize]byte) {
	binary.LittleEndian.PutUint32(h[:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], checksum(h[:4], payload))
	return h
}

// parse reads the record at the start of b: its payload and total size. ok is false when b
// does not start with a whole, intact record.
func parse(b []byte) (payload []byte, size int, ok bool) {
	if len(b) < headerSize {
		return nil, 0, false
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 || n > MaxRecord || int(n) > len(b)-headerSize {
		return nil, 0, false
	}
	payload = b[headerSize : headerSize+int(n)]
	if binary.LittleEndian.Uint32(b[4:]) != checksum(b[:4], payload) {
		return nil, 0, false
	}
	return payload, headerSize + int(n), true
}

// Writer writes whole records to a file one after another, for files that are written once
// and then renamed into place (snapshots). The first error sticks.
type Writer struct {
	w   io.Writer
	buf []byte
	err error
}

// NewWriter returns a Writer onto w (buffer it: each record is one Write).
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Put writes a record with payload.
func (w *Writer) Put(payload []byte) {
	if w.err != nil {
		return
	}
	if w.err = checkSize(payload); w.err != nil {
		return
	}
	h := header(payload)
	w.buf = append(append(w.buf[:0], h[:]...), payload...)
	_, w.err = w.w.Write(w.buf)
}

// Flush flushes w's writer if it buffers, and returns the first error.
func (w *Writer) Flush() error {
	if f, ok := w.w.(interface{ Flush() error }); ok && w.err == nil {
		w.err = f.Flush()
	}
	return w.err
}
