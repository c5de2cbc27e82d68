package sessions

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
)

// Token geometry, fixed by the original module's wire format.
const (
	IDLen    = 16
	SigLen   = 64
	TokenLen = 2 + 1 + IDLen + 1 + SigLen // "v1.<id>.<sig>" = 84 bytes

	// Slots is the number of placement slots; the last two id characters encode one (62*62).
	Slots = 62 * 62
	// randomChars is how many id characters are random when the slot is chosen (owner sessions).
	randomChars = IDLen - 2
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ID is a session id: 16 characters over [0-9A-Za-z].
type ID [IDLen]byte

// String returns the id's characters.
func (id ID) String() string { return string(id[:]) }

// IsZero reports whether id is unset (no issued id is all zero bytes); it also lets msgpack
// omit an unset id under omitempty.
func (id ID) IsZero() bool { return id == ID{} }

// Slot is the placement slot (0..Slots-1) carried by the id's last two characters. An id we did
// not issue may hold other bytes; it still maps to some slot, where it is simply not found.
func (id ID) Slot() int {
	return (int(charValue(id[IDLen-2])%62)*62 + int(charValue(id[IDLen-1])%62)) % Slots
}

// Tenant identifies everything one sign key signed, without keeping the key itself.
type Tenant [16]byte

// ErrTokenFormat is returned for a token that is not "v1.<16 alnum>.<64 lowercase hex>".
var ErrTokenFormat = errors.New("token format is invalid")

// TenantOf derives the tenant of a sign key. Domain-separated so it never equals an HMAC the
// server hands out.
func TenantOf(signKey []byte) Tenant {
	h := sha256.New()
	h.Write([]byte("sessiongate/tenant/v1\x00"))
	h.Write(signKey)
	var t Tenant
	copy(t[:], h.Sum(nil))
	return t
}

// OwnerSlot is the slot every session of (tenant, owner) is placed in, so that an owner's
// sessions share a partition and "log out everywhere" touches one partition only.
func OwnerSlot(t Tenant, owner []byte) int {
	h := fnv.New64a()
	h.Write(t[:])
	h.Write(owner)
	return int(h.Sum64() % Slots)
}

// NewID draws a session id from rand (crypto/rand in production). With slot < 0 every
// character is random (and so is the slot); otherwise the last two characters encode slot.
// Rejection sampling keeps every character uniform (no modulo bias).
func NewID(rand io.Reader, slot int) (ID, error) {
	var id ID
	n := IDLen
	if slot >= 0 {
		if slot >= Slots {
			return id, errors.New("sessions: slot out of range")
		}
		n = randomChars
		id[IDLen-2] = alphabet[slot/62]
		id[IDLen-1] = alphabet[slot%62]
	}
	var buf [32]byte
	filled := 0
	for filled < n {
		if _, err := io.ReadFull(rand, buf[:]); err != nil {
			return id, err
		}
		for _, b := range buf {
			// 248 = 4*62: bytes at or above it would bias the low characters.
			if b >= 248 {
				continue
			}
			id[filled] = alphabet[b%62]
			filled++
			if filled == n {
				break
			}
		}
	}
	return id, nil
}

// ParseToken splits a token into its id and its hex signature. Only the length, the "v1"
// prefix and the dots make a token malformed (ErrTokenFormat); any other bad character simply
// fails signature verification, as it did in the original module.
func ParseToken(tok []byte) (id ID, sig [SigLen]byte, err error) {
	if len(tok) != TokenLen || tok[0] != 'v' || tok[1] != '1' || tok[2] != '.' || tok[3+IDLen] != '.' {
		return id, sig, ErrTokenFormat
	}
	copy(id[:], tok[3:3+IDLen])
	copy(sig[:], tok[4+IDLen:])
	return id, sig, nil
}

// Signer signs and verifies ids for one sign key. It reuses its HMAC state, so it is not safe
// for concurrent use: keep one per connection.
type Signer struct {
	key    []byte
	mac    hash.Hash
	tenant Tenant
	sum    [sha256.Size]byte
	id     ID
	v      *Verifier // made on first use for the current key
}

// NewSigner returns a Signer for key.
func NewSigner(key []byte) *Signer {
	s := &Signer{}
	s.Reset(key)
	return s
}

// Reset switches the signer to key, doing no work when the key is unchanged (the common case:
// an application uses one key on all its connections).
func (s *Signer) Reset(key []byte) {
	if s.mac != nil && string(s.key) == string(key) {
		return
	}
	s.key = append(s.key[:0], key...)
	s.mac = hmac.New(sha256.New, s.key)
	s.tenant = TenantOf(s.key)
	s.v = nil
}

// Tenant is the tenant of the signer's key.
func (s *Signer) Tenant() Tenant { return s.tenant }

func (s *Signer) mac256(id ID) []byte {
	s.mac.Reset()
	s.id = id // a slice of the parameter would escape through the hash interface: one allocation per call
	s.mac.Write(s.id[:])
	return s.mac.Sum(s.sum[:0])
}

// Verify reports whether sig is the lowercase hex of this key's signature of id, in constant time.
func (s *Signer) Verify(id ID, sig [SigLen]byte) bool {
	var want [SigLen]byte
	hex.Encode(want[:], s.mac256(id))
	return hmac.Equal(want[:], sig[:])
}

// AppendToken appends "v1.<id>.<hex sig>" to dst.
func (s *Signer) AppendToken(dst []byte, id ID) []byte {
	m := s.MAC(id)
	return AppendTokenMAC(dst, id, &m)
}

func charValue(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'A' && c <= 'Z':
		return c - 'A' + 10
	case c >= 'a' && c <= 'z':
		return c - 'a' + 36
	}
	return 0xff
}

// MarshalBinary lets encoders (msgpack between nodes) send an id as 16 raw bytes rather than
// as an array of numbers.
func (id ID) MarshalBinary() ([]byte, error) { return id[:], nil }

// UnmarshalBinary is MarshalBinary's inverse.
func (id *ID) UnmarshalBinary(b []byte) error { return unmarshalFixed(id[:], b, "id") }

// MarshalBinary sends a tenant as 16 raw bytes.
func (t Tenant) MarshalBinary() ([]byte, error) { return t[:], nil }

// UnmarshalBinary is MarshalBinary's inverse.
func (t *Tenant) UnmarshalBinary(b []byte) error { return unmarshalFixed(t[:], b, "tenant") }

// unmarshalFixed copies b into dst, a fixed-size value's bytes, refusing any other length.
func unmarshalFixed(dst, b []byte, what string) error {
	if len(b) != len(dst) {
		return fmt.Errorf("sessions: %s must be %d bytes", what, len(dst))
	}
	copy(dst, b)
	return nil
}
