package sessions

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync"
)

// MAC is a token's signature in raw form: HMAC-SHA256 of the id under the tenant's sign key.
// A record keeps its session's MAC, so that a command whose token carries the same MAC is
// known to be signed by the key its tenant stands for without computing the HMAC again: that
// computation was a quarter of a node's time on a workload of reads.
type MAC [sha256.Size]byte

// IsZero reports whether m is unset (a session created by a node that kept no MAC).
func (m MAC) IsZero() bool { return m == MAC{} }

// MarshalBinary sends a MAC as 32 raw bytes.
func (m MAC) MarshalBinary() ([]byte, error) { return m[:], nil }

// UnmarshalBinary is MarshalBinary's inverse.
func (m *MAC) UnmarshalBinary(b []byte) error { return unmarshalFixed(m[:], b, "signature") }

// ParseMAC decodes a token's signature. Only lowercase hex can equal a signature this server
// issued (the original module compared the hex text), so anything else is rejected here.
func ParseMAC(sig *[SigLen]byte) (m MAC, ok bool) {
	bad := byte(0)
	for i := range m {
		hi, lo := lowerHex[sig[2*i]], lowerHex[sig[2*i+1]]
		bad |= hi | lo
		m[i] = hi<<4 | lo&0x0f
	}
	if bad&0xf0 != 0 {
		return MAC{}, false
	}
	return m, true
}

// lowerHex maps a lowercase hex digit to its value and every other byte to 0xff. It is a
// constant table, read on every command: one load per character instead of two comparisons.
var lowerHex = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		default:
			t[c] = 0xff
		}
	}
	return t
}()

// Checker verifies a token's MAC for the key of the command that carries it. A store calls
// it only when the session's record cannot vouch for the MAC (a miss, another key, a record
// without one); it may be called from any goroutine.
type Checker interface {
	CheckMAC(id ID, mac *MAC) bool
}

// Verifier is a Checker for one sign key, safe for concurrent use: a Signer of its own behind
// a lock. It never changes key: a connection that switches keys gets a new one, so commands
// already prepared keep theirs.
type Verifier struct {
	mu sync.Mutex
	s  *Signer
}

func newVerifier(key []byte) *Verifier { return &Verifier{s: NewSigner(key)} }

// CheckMAC reports, in constant time, whether mac is the key's signature of id.
func (v *Verifier) CheckMAC(id ID, mac *MAC) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return subtle.ConstantTimeCompare(v.s.mac256(id), mac[:]) == 1
}

// macMatches reports, in constant time, whether the record r found for cmd vouches for its
// MAC: r holds that same MAC. It proves the key only together with the tenant check, which
// ties r to the key whose tenant the command names (the MAC was made with that key).
func (cmd *Command) macMatches(r *record) bool {
	return r != nil && !r.mac.IsZero() && subtle.ConstantTimeCompare(r.mac[:], cmd.MAC[:]) == 1
}

// Settle verifies the command's MAC with its Checker, if it has one, and drops the Checker:
// a command must be settled before it leaves the process (the encoder refuses one that is
// not), since the node that runs it trusts its sender.
func (cmd *Command) Settle() bool {
	if cmd.Check == nil {
		return true
	}
	ok := cmd.Check.CheckMAC(cmd.ID, &cmd.MAC)
	cmd.Check = nil
	return ok
}

// Verifier returns a concurrency-safe Checker for the signer's current key.
func (s *Signer) Verifier() *Verifier {
	if s.v == nil {
		s.v = newVerifier(s.key)
	}
	return s.v
}

// MAC signs id: the raw form of the signature in id's token.
func (s *Signer) MAC(id ID) MAC {
	var m MAC
	copy(m[:], s.mac256(id))
	return m
}

// AppendTokenMAC appends "v1.<id>.<hex mac>" to dst for a MAC already computed.
func AppendTokenMAC(dst []byte, id ID, mac *MAC) []byte {
	dst = append(dst, 'v', '1', '.')
	dst = append(dst, id[:]...)
	dst = append(dst, '.')
	return hex.AppendEncode(dst, mac[:])
}
