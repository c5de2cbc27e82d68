package sessions

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"testing"
)

func TestNewIDAlphabetUniform(t *testing.T) {
	counts := map[byte]int{}
	const n = 20000
	for i := 0; i < n; i++ {
		id, err := NewID(rand.Reader, -1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range id {
			if charValue(c) == 0xff {
				t.Fatalf("id %q has a character outside the alphabet", id)
			}
			counts[c]++
		}
	}
	if len(counts) != 62 {
		t.Fatalf("saw %d distinct characters, want 62", len(counts))
	}
	// Chi-squared over 62 cells, 61 degrees of freedom: the 99.99th percentile is about 113.
	exp := float64(n*IDLen) / 62
	var chi float64
	for _, c := range counts {
		chi += math.Pow(float64(c)-exp, 2) / exp
	}
	if chi > 113 {
		t.Fatalf("chi-squared %.1f: characters are not uniform", chi)
	}
}

// A reader that only ever yields byte 255 then 1: 255 must be rejected, not folded onto a
// character (which is what a modulo would do).
type biasedReader struct{ i int }

func (r *biasedReader) Read(p []byte) (int, error) {
	for i := range p {
		if r.i%2 == 0 {
			p[i] = 255
		} else {
			p[i] = 1
		}
		r.i++
	}
	return len(p), nil
}

func TestNewIDRejectsBiasedBytes(t *testing.T) {
	id, err := NewID(&biasedReader{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.Repeat([]byte{alphabet[1]}, IDLen); !bytes.Equal(id[:], want) {
		t.Fatalf("id %q, want all %q", id, alphabet[1])
	}
}

func TestNewIDSlot(t *testing.T) {
	for _, slot := range []int{0, 1, 61, 62, 1000, Slots - 1} {
		id, err := NewID(rand.Reader, slot)
		if err != nil {
			t.Fatal(err)
		}
		if id.Slot() != slot {
			t.Fatalf("slot %d came back as %d", slot, id.Slot())
		}
	}
	if _, err := NewID(rand.Reader, Slots); err == nil {
		t.Fatal("slot out of range accepted")
	}
}

func TestTokenRoundTrip(t *testing.T) {
	key := []byte("qwerty")
	s := NewSigner(key)
	id, _ := NewID(rand.Reader, -1)
	tok := s.AppendToken(nil, id)
	if len(tok) != TokenLen {
		t.Fatalf("token length %d", len(tok))
	}
	// The signature is the lowercase hex HMAC-SHA256 of the id under the sign key.
	mac := hmac.New(sha256.New, key)
	mac.Write(id[:])
	want := "v1." + id.String() + "." + hex.EncodeToString(mac.Sum(nil))
	if string(tok) != want {
		t.Fatalf("token %s, want %s", tok, want)
	}
	gotID, sig, err := ParseToken(tok)
	if err != nil || gotID != id {
		t.Fatalf("parse: %v %v", gotID, err)
	}
	if !s.Verify(gotID, sig) {
		t.Fatal("own signature rejected")
	}
	if NewSigner([]byte("other")).Verify(gotID, sig) {
		t.Fatal("signature accepted under another key")
	}
	s.Reset([]byte("other"))
	if s.Verify(gotID, sig) || s.Tenant() != TenantOf([]byte("other")) {
		t.Fatal("Reset did not switch keys")
	}
}

func TestParseTokenFormat(t *testing.T) {
	s := NewSigner([]byte("k"))
	id, _ := NewID(rand.Reader, -1)
	good := s.AppendToken(nil, id)
	bad := map[string][]byte{
		"short":     good[:83],
		"long":      append(append([]byte{}, good...), 'a'),
		"no v1":     append([]byte("v2"), good[2:]...),
		"first dot": append([]byte("v1x"), good[3:]...),
		"second":    append(append(append([]byte{}, good[:19]...), 'x'), good[20:]...),
	}
	for name, tok := range bad {
		if _, _, err := ParseToken(tok); !errors.Is(err, ErrTokenFormat) {
			t.Errorf("%s: err %v, want ErrTokenFormat", name, err)
		}
	}
	// A bad character elsewhere is a signature failure, as in the original module.
	upper := bytes.ToUpper(good)
	upper[0] = 'v'
	id2, sig, err := ParseToken(upper)
	if err != nil {
		t.Fatalf("uppercase signature: %v", err)
	}
	if s.Verify(id2, sig) {
		t.Fatal("uppercase signature verified")
	}
}

func TestOwnerSlotStable(t *testing.T) {
	a := OwnerSlot(TenantOf([]byte("k1")), []byte("alice"))
	if a != OwnerSlot(TenantOf([]byte("k1")), []byte("alice")) {
		t.Fatal("owner slot not deterministic")
	}
	seen := map[int]bool{}
	for i := 0; i < 100; i++ {
		seen[OwnerSlot(TenantOf([]byte("k1")), []byte{byte(i), 'x'})] = true
	}
	if len(seen) < 90 {
		t.Fatalf("owner slots collide too much: %d distinct of 100", len(seen))
	}
}

func BenchmarkNewID(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := NewID(rand.Reader, -1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignAndVerify(b *testing.B) {
	s := NewSigner([]byte("a sign key of ordinary length"))
	id, _ := NewID(rand.Reader, -1)
	tok := s.AppendToken(nil, id)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tok = s.AppendToken(tok[:0], id)
		pid, sig, err := ParseToken(tok)
		if err != nil || !s.Verify(pid, sig) {
			b.Fatal("verify failed")
		}
	}
}
