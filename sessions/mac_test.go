package sessions

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
)

// countingChecker answers ok and counts how often the store had to ask.
type countingChecker struct {
	ok    bool
	calls atomic.Int32
}

func (c *countingChecker) CheckMAC(ID, *MAC) bool { c.calls.Add(1); return c.ok }

func TestParseMAC(t *testing.T) {
	sg := NewSigner([]byte("key"))
	id := mustID(t, 5)
	tok := sg.AppendToken(nil, id)
	_, sig, err := ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	mac, ok := ParseMAC(&sig)
	if !ok || mac != sg.MAC(id) {
		t.Fatalf("ParseMAC = %x %v, want %x", mac, ok, sg.MAC(id))
	}
	if got := AppendTokenMAC(nil, id, &mac); !bytes.Equal(got, tok) {
		t.Fatalf("AppendTokenMAC = %s, want %s", got, tok)
	}
	if !sg.Verifier().CheckMAC(id, &mac) || NewSigner([]byte("other")).Verifier().CheckMAC(id, &mac) {
		t.Fatal("Verifier disagrees with the signer")
	}
	// The original compared hex text: an uppercase digit never matched, nor may it here.
	upper := sig
	for i, c := range upper {
		if c >= 'a' && c <= 'f' {
			upper[i] = c - 'a' + 'A'
			break
		}
	}
	if _, ok := ParseMAC(&upper); ok {
		t.Fatal("uppercase hex accepted")
	}
	bad := sig
	bad[7] = 'g'
	if _, ok := ParseMAC(&bad); ok {
		t.Fatal("non-hex accepted")
	}
}

// A command that carries an unverified MAC runs when the session's record holds that MAC,
// without computing an HMAC; anything else asks the Checker, and a signature it rejects
// answers ErrSignature before any other error and changes nothing.
func TestStoreSettlesSignatures(t *testing.T) {
	s, _ := newTestStore()
	sg := NewSigner([]byte("key-a"))
	id := mustID(t, 9)
	do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: id, TTL: 60, NewMAC: sg.MAC(id)})
	good := sg.MAC(id)
	run := func(cmd Command, ok bool) (error, int32) {
		chk := &countingChecker{ok: ok}
		cmd.Check = chk
		_, err := s.Do(&cmd)
		return err, chk.calls.Load()
	}
	pset := Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("a"), Data: []byte("1"), MAC: good}
	if err, calls := run(pset, false); err != nil || calls != 0 {
		t.Fatalf("matching MAC: err %v, checker asked %d times", err, calls)
	}
	forged := pset
	forged.MAC[0] ^= 1
	forged.Data = []byte("2")
	if err, calls := run(forged, false); !errors.Is(err, ErrSignature) || calls != 1 {
		t.Fatalf("forged MAC: err %v, checker asked %d times", err, calls)
	}
	if got := pget(s, id, "a"); got != "1" {
		t.Fatalf("a forged write changed the session: a=%q", got)
	}
	// A miss or another tenant is the Checker's to judge, as the module checked the signature first.
	miss := Command{Kind: KindPGet, Tenant: tenantA, ID: mustID(t, 9), Name: []byte("a"), MAC: good}
	if err, _ := run(miss, false); !errors.Is(err, ErrSignature) {
		t.Fatalf("miss with a bad signature: %v", err)
	}
	if err, _ := run(miss, true); !errors.Is(err, ErrNoSession) {
		t.Fatalf("miss with a good signature: %v", err)
	}
	other := Command{Kind: KindPGet, Tenant: tenantB, ID: id, Name: []byte("a"), MAC: good}
	if err, _ := run(other, false); !errors.Is(err, ErrSignature) {
		t.Fatalf("another key, bad signature: %v", err)
	}
	if err, _ := run(other, true); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("another key, good signature: %v", err)
	}
	// A record without a MAC (made by an older node) asks every time.
	old := mustID(t, 9)
	do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: old, TTL: 60})
	if err, calls := run(Command{Kind: KindTTL, Tenant: tenantA, ID: old, MAC: sg.MAC(old)}, true); err != nil || calls != 1 {
		t.Fatalf("record without MAC: err %v, checker asked %d times", err, calls)
	}
	// Copies, rotations and reads from a backup's copy keep and use the MAC.
	replica := New(Config{Now: s.now})
	s.SlotOps(id.Slot(), replica.Apply)
	if _, ok := replica.ReadCopy(&Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("a"), MAC: good, Check: &countingChecker{}}); !ok {
		t.Fatal("a backup's copy could not vouch for the MAC it was sent")
	}
	if _, ok := replica.ReadCopy(&Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("a"), MAC: forged.MAC, Check: &countingChecker{ok: true}}); ok {
		t.Fatal("a backup answered a read its copy cannot vouch for")
	}
	nid := mustID(t, 9)
	if err, _ := run(Command{Kind: KindRotate, Tenant: tenantA, ID: id, NewID: nid, NewMAC: sg.MAC(nid), MAC: good}, false); err != nil {
		t.Fatal(err)
	}
	if err, calls := run(Command{Kind: KindTTL, Tenant: tenantA, ID: nid, MAC: sg.MAC(nid)}, false); err != nil || calls != 0 {
		t.Fatalf("rotated session: err %v, checker asked %d times", err, calls)
	}
}

// Settle verifies a command's signature and drops its checker; wire refuses to send a command
// that still has one (wire's TestUnsettledCommandIsNotSent).
func TestSettle(t *testing.T) {
	cmd := Command{Kind: KindPGet, Tenant: tenantA, ID: mustID(t, 1), Name: []byte("a"), Check: &countingChecker{ok: true}}
	if !cmd.Settle() || cmd.Check != nil {
		t.Fatal("Settle did not verify and drop the checker")
	}
	bad := Command{Kind: KindPGet, ID: mustID(t, 1), Check: &countingChecker{}}
	if bad.Settle() {
		t.Fatal("Settle accepted a signature the checker rejected")
	}
}

// ParseMAC agrees with encoding/hex on every lowercase digit and rejects every other byte in
// every position.
func TestParseMACEveryByte(t *testing.T) {
	sg := NewSigner([]byte("k"))
	id := mustID(t, 3)
	_, sig, _ := ParseToken(sg.AppendToken(nil, id))
	want := sg.MAC(id)
	for pos := range sig {
		for c := 0; c < 256; c++ {
			s := sig
			s[pos] = byte(c)
			m, ok := ParseMAC(&s)
			isHex := c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
			if ok != isHex {
				t.Fatalf("byte %q at %d: ok=%v", byte(c), pos, ok)
			}
			if ok && byte(c) == sig[pos] && m != want {
				t.Fatalf("decoded %x, want %x", m, want)
			}
		}
	}
}

// BenchmarkParseMAC is what a command whose session vouches for its MAC pays instead of the
// HMAC (BenchmarkVerifierHMAC): decoding the signature.
func BenchmarkParseMAC(b *testing.B) {
	sg := NewSigner([]byte("a sign key of ordinary length"))
	id := mustID(b, 3)
	_, sig, _ := ParseToken(sg.AppendToken(nil, id))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseMAC(&sig); !ok {
			b.Fatal("rejected")
		}
	}
}

// BenchmarkVerifierHMAC is the HMAC check a miss, another key or a forward costs.
func BenchmarkVerifierHMAC(b *testing.B) {
	sg := NewSigner([]byte("a sign key of ordinary length"))
	id := mustID(b, 3)
	mac := sg.MAC(id)
	v := sg.Verifier()
	b.ReportAllocs()
	for b.Loop() {
		if !v.CheckMAC(id, &mac) {
			b.Fatal("rejected")
		}
	}
}
