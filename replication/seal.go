package replication

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A keyed link without TLS carries its frames in sealed records: length u32 (of the sealed
// bytes) then AES-256-GCM ciphertext and tag. Each direction has its own key, derived from
// the cluster secret and the handshake's transcript, and numbers its records from zero as the
// GCM nonce. So a record replayed, dropped, reordered or moved from another link fails to
// open, and the link closes.

// maxRecord bounds the plaintext of one record: the reader holds one whole record before it
// opens it, so this is also what a peer can make it buffer.
const maxRecord = 64 << 10

var errRecord = errors.New("replication: record failed to open")

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// sealer seals the frames of one direction. Its user serialises calls (conn.queue holds wmu),
// so records enter the backlog in the order of their numbers.
type sealer struct {
	aead  cipher.AEAD
	seq   uint64
	nonce [12]byte
}

// appendSealed appends plain to dst as records of at most maxRecord bytes each.
func (s *sealer) appendSealed(dst, plain []byte) []byte {
	for len(plain) > 0 {
		n := min(len(plain), maxRecord)
		dst = binary.BigEndian.AppendUint32(dst, uint32(n+s.aead.Overhead()))
		binary.BigEndian.PutUint64(s.nonce[4:], s.seq)
		s.seq++
		dst = s.aead.Seal(dst, s.nonce[:], plain[:n], nil)
		plain = plain[n:]
	}
	return dst
}

// opener reads sealed records from src and yields their plaintext. It reads as much as the
// socket has into one buffer and opens every whole record in place, so a burst of records
// costs one read.
type opener struct {
	src   io.Reader
	aead  cipher.AEAD
	seq   uint64
	nonce [12]byte
	buf   []byte // raw bytes; buf[r:w] not yet opened
	r, w  int
	plain []byte // opened and not yet read (inside buf)
}

func newOpener(src io.Reader, aead cipher.AEAD) *opener {
	return &opener{src: src, aead: aead, buf: make([]byte, 4+maxRecord+aead.Overhead())}
}

// Read returns plaintext, waiting for a whole record when none is open.
func (o *opener) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		ok, err := o.openNext()
		if err != nil {
			return 0, err
		}
		if ok {
			continue
		}
		if o.r > 0 { // make room: nothing before r is needed any more
			o.w = copy(o.buf, o.buf[o.r:o.w])
			o.r = 0
		}
		n, err := o.src.Read(o.buf[o.w:])
		o.w += n
		if n == 0 && err != nil {
			return 0, err
		}
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}

// openNext opens the record at buf[r:] if all of it is there.
func (o *opener) openNext() (bool, error) {
	if o.w-o.r < 4 {
		return false, nil
	}
	n := int(binary.BigEndian.Uint32(o.buf[o.r:]))
	if n < o.aead.Overhead() || n > maxRecord+o.aead.Overhead() {
		return false, fmt.Errorf("%w: record of %d bytes", errRecord, n)
	}
	if o.w-o.r-4 < n {
		return false, nil
	}
	binary.BigEndian.PutUint64(o.nonce[4:], o.seq)
	o.seq++
	sealed := o.buf[o.r+4 : o.r+4+n]
	plain, err := o.aead.Open(sealed[:0], o.nonce[:], sealed, nil)
	if err != nil {
		return false, fmt.Errorf("%w: %w", errRecord, err)
	}
	o.r += 4 + n
	o.plain = plain
	return true, nil
}
