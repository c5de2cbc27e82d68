// Package clusterkey turns the secret every node of a cluster shares into the keys each
// inter-node link uses. A node may hold several secrets at once, newest first, so that a
// cluster moves from one secret to the next by a rolling restart: links use the newest
// secret both ends hold.
//
// The secret itself never travels. What peers see of it is its ID (a MAC of a fixed label
// under the secret), which is why a secret must be long and random: `openssl rand -base64 32`.
package clusterkey

import (
	"bufio"
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// MinLen is the shortest secret accepted, in bytes.
const MinLen = 16

// MaxKeys bounds the secrets one node holds (the current one and those being retired).
const MaxKeys = 4

// IDLen is the length of a key ID.
const IDLen = 8

// ID names a secret without revealing it.
type ID [IDLen]byte

// Key is one cluster secret.
type Key struct {
	secret []byte
	id     ID
	gossip []byte // derived once: memberlist's keyring compares keys on every change
}

// ErrInvalid is wrapped by every error about a malformed secret.
var ErrInvalid = errors.New("invalid cluster secret")

// New returns the key for one secret, which must be at least MinLen bytes.
func New(secret []byte) (Key, error) {
	if len(secret) < MinLen {
		return Key{}, fmt.Errorf("%w: %d bytes, at least %d needed (make one with: openssl rand -base64 32)", ErrInvalid, len(secret), MinLen)
	}
	k := Key{secret: bytes.Clone(secret)}
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte("sessiongate cluster key id v1"))
	copy(k.id[:], m.Sum(nil))
	k.gossip = k.Derive("gossip v1", nil, 32)
	return k, nil
}

// Parse reads secrets one per line, newest first. Blank lines and lines starting with '#'
// are skipped; surrounding spaces are not part of a secret.
func Parse(text []byte) ([]Key, error) {
	var keys []Key
	sc := bufio.NewScanner(bytes.NewReader(text))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, err := New([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		for _, prev := range keys {
			if prev.id == k.id {
				return nil, fmt.Errorf("%w: line %d repeats an earlier secret", ErrInvalid, line)
			}
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no secret found", ErrInvalid)
	}
	if len(keys) > MaxKeys {
		return nil, fmt.Errorf("%w: %d secrets, at most %d (the current one and those being retired)", ErrInvalid, len(keys), MaxKeys)
	}
	return keys, nil
}

// ID names the secret.
func (k Key) ID() ID { return k.id }

// Derive returns n bytes of key material for one purpose (label) and, optionally, one
// link (salt): keys for different purposes or links are independent of each other.
func (k Key) Derive(label string, salt []byte, n int) []byte {
	b, err := hkdf.Key(sha256.New, k.secret, salt, "sessiongate "+label, n)
	if err != nil {
		panic(err) // only for n beyond HKDF's 255*32 bytes, a programming error
	}
	return b
}

// Gossip is the memberlist encryption key this secret stands for.
func (k Key) Gossip() []byte { return k.gossip }

// Find returns the key with the given ID.
func Find(keys []Key, id ID) (Key, bool) {
	for _, k := range keys {
		if k.id == id {
			return k, true
		}
	}
	return Key{}, false
}
