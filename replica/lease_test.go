package replica

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/quorum"
	"github.com/sessiongate/sessiongate/wire"
)

// askedOf runs Ask and returns the requests it sent, by primary.
func askedOf(t *testing.T, r *rig) map[string]*wire.LeaseMsg {
	t.Helper()
	r.Ask(ctxT(t))
	out := map[string]*wire.LeaseMsg{}
	for _, c := range r.sender.take() {
		if c.m != 8 {
			t.Fatalf("Ask sent method %d", c.m)
		}
		out[c.addr[len("addr-"):]] = c.req.(*wire.LeaseMsg)
	}
	return out
}

// A backup asks each of its primaries, and only once the view is ReadDelay old.
func TestAskGoesToThePrimaries(t *testing.T) {
	clock := newFakeClock()
	r := newRig(t, "b", quorum.AcksMajority, time.Second, clock,
		[]string{"p", "b", "c"}, []string{"q", "c", "b"}, []string{"b", "p"}, []string{"c", "p"})
	clock.set(50 * time.Millisecond)
	if got := askedOf(t, r); len(got) != 0 {
		t.Fatalf("asked %d primaries 50ms into the view", len(got))
	}
	clock.set(time.Second)
	got := askedOf(t, r)
	if len(got) != 2 || got["p"] == nil || got["q"] == nil {
		t.Fatalf("asked %v, want p and q", got)
	}
	if m := got["p"]; m.From != "b" || m.Version != 1 || m.Nonce == 0 || m.Nonce == got["q"].Nonce {
		t.Fatalf("request %+v", *m)
	}
}

// A lease counts from when its request left, for the shorter of the two lease settings less
// a tenth, for the ring version it was asked for; and only a grant to the outstanding request
// gives one.
func TestLeaseExpiry(t *testing.T) {
	for _, tc := range []struct {
		name       string
		own, dur   time.Duration // the backup's ReadLease; the grant's promise
		alter      func(m *wire.LeaseMsg)
		wantLength time.Duration // 0: no lease
	}{
		{"same settings", time.Second, time.Second, nil, 900 * time.Millisecond},
		{"a shorter primary", time.Second, 300 * time.Millisecond, nil, 270 * time.Millisecond},
		{"a shorter backup", 300 * time.Millisecond, time.Second, nil, 270 * time.Millisecond},
		{"no promise", time.Second, time.Second, func(m *wire.LeaseMsg) { m.Dur = 0 }, 0},
		{"an older request", time.Second, time.Second, func(m *wire.LeaseMsg) { m.Nonce-- }, 0},
		{"another version", time.Second, time.Second, func(m *wire.LeaseMsg) { m.Version++ }, 0},
		{"another primary", time.Second, time.Second, func(m *wire.LeaseMsg) { m.From = "q" }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			r := newRig(t, "b", quorum.AcksMajority, tc.own, clock, []string{"p", "b"})
			asked := 2 * time.Second
			clock.set(asked)
			req := askedOf(t, r)["p"]
			clock.set(asked + 10*time.Millisecond) // the grant comes later: the lease counts from the request
			grant := wire.LeaseMsg{From: "p", Version: req.Version, Nonce: req.Nonce, Dur: int64(tc.dur)}
			if tc.alter != nil {
				tc.alter(&grant)
			}
			r.Granted(&grant)
			if tc.wantLength == 0 {
				if r.Holds("p", 1) || r.Holds(grant.From, grant.Version) {
					t.Fatal("holds a lease")
				}
				return
			}
			for _, c := range []struct {
				at      time.Duration
				version uint64
				want    bool
			}{
				{asked + 10*time.Millisecond, 1, true},
				{asked + tc.wantLength - 1, 1, true},
				{asked + tc.wantLength - 1, 2, false}, // the view changed
				{asked + tc.wantLength, 1, false},
			} {
				clock.set(c.at)
				if got := r.Holds("p", c.version); got != c.want {
					t.Fatalf("at %v, version %d: holds %v, want %v", c.at, c.version, got, c.want)
				}
			}
			if h := r.Held()["p"]; time.Duration(h.Until-h.Asked) != tc.wantLength || h.Version != 1 {
				t.Fatalf("held %+v", h)
			}
		})
	}
}

// A missed forward drops the lease from that primary, voids the grant already on its way,
// and is counted in the next request; DropAll does that for every primary.
func TestMissesDropLeases(t *testing.T) {
	clock := newFakeClock()
	r := newRig(t, "b", quorum.AcksMajority, time.Second, clock, []string{"p", "b"}, []string{"q", "b"})
	clock.set(time.Second)
	grantAll := func(reqs map[string]*wire.LeaseMsg) {
		for name, m := range reqs {
			r.Granted(&wire.LeaseMsg{From: name, Version: m.Version, Nonce: m.Nonce, Dur: int64(time.Second)})
		}
	}
	reqs := askedOf(t, r)
	grantAll(reqs)
	if !r.Holds("p", 1) || !r.Holds("q", 1) {
		t.Fatal("no leases to drop")
	}
	reqs = askedOf(t, r) // outstanding while the forward fails
	r.Missed("p")
	if r.Holds("p", 1) || !r.Holds("q", 1) {
		t.Fatal("the miss dropped the wrong lease")
	}
	grantAll(reqs)
	if r.Holds("p", 1) {
		t.Fatal("a grant to a request made before the miss restored the lease")
	}
	if m := askedOf(t, r); m["p"].Missed != 1 || m["q"].Missed != 0 {
		t.Fatalf("misses carried: p %d, q %d", m["p"].Missed, m["q"].Missed)
	}
	r.DropAll()
	if r.Holds("q", 1) {
		t.Fatal("DropAll left a lease")
	}
	if h := r.Held(); h["p"].Missed != 2 || h["q"].Missed != 1 {
		t.Fatalf("misses %+v", h)
	}
}

// A primary grants a lease to a backup of its view, behind its copies, while it has missed
// no copy since its last clean anti-entropy round.
func TestGrant(t *testing.T) {
	clock := newFakeClock()
	r := newRig(t, "p", quorum.AcksMajority, time.Second, clock, []string{"p", "b", "c"})
	clock.set(5 * time.Second)
	nonce := uint64(0)
	grant := func(from string, version, missed uint64) *wire.LeaseMsg {
		t.Helper()
		nonce++
		r.Grant(ctxT(t), &wire.LeaseMsg{From: from, Version: version, Nonce: nonce, Missed: missed})
		calls := r.sender.take()
		if len(calls) == 0 {
			return nil
		}
		if len(calls) != 1 || calls[0].m != 9 || calls[0].addr != "addr-"+from {
			t.Fatalf("grant sent %+v", calls)
		}
		return calls[0].req.(*wire.LeaseMsg)
	}
	m := grant("b", 1, 0)
	if m == nil || *m != (wire.LeaseMsg{From: "p", Version: 1, Nonce: nonce, Dur: int64(time.Second)}) {
		t.Fatalf("grant %+v", m)
	}
	if got := r.grantee("b").until.Load(); got != int64(6*time.Second) {
		t.Fatalf("promised until %v", time.Duration(got))
	}
	for _, tc := range []struct {
		from    string
		version uint64
	}{{"x", 1}, {"b", 2}, {"p", 1}} {
		if grant(tc.from, tc.version, 0) != nil {
			t.Fatalf("granted %s for version %d", tc.from, tc.version)
		}
	}

	// Not connected, or a copy waiting for its dial: refused, and dialled for next time.
	r.sender.mu.Lock()
	r.sender.down["addr-c"] = true
	r.sender.mu.Unlock()
	if grant("c", 1, 0) != nil {
		t.Fatal("granted without a connection")
	}
	r.grantee("b").connecting.Add(1)
	if grant("b", 1, 0) != nil {
		t.Fatal("granted while a copy waits for a dial")
	}
	r.grantee("b").connecting.Add(-1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.sender.mu.Lock()
		dialled := slices.Contains(r.sender.connected, "addr-c") && slices.Contains(r.sender.connected, "addr-b")
		r.sender.mu.Unlock()
		if dialled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("refused grants did not dial")
		}
		time.Sleep(time.Millisecond)
	}

	// A backup that reports a new miss, or failed a copy, gets none until a round of
	// anti-entropy that started afterwards.
	clock.set(6 * time.Second)
	if grant("b", 1, 1) != nil || grant("b", 1, 1) != nil {
		t.Fatal("granted after a missed forward")
	}
	r.Synced("b", int64(5*time.Second)) // a round that started before the miss
	if grant("b", 1, 1) != nil {
		t.Fatal("granted after a round that started before the miss")
	}
	clock.set(7 * time.Second)
	r.Synced("b", int64(7*time.Second))
	if grant("b", 1, 1) == nil {
		t.Fatal("no grant after a clean round")
	}
	clock.set(7500 * time.Millisecond)
	f := r.Start(r.view, []Part{{P: 0, Ops: ops(1)}})
	for _, c := range r.sender.take() {
		c.done(errors.New("lost"))
	}
	if f.settle(); grant("b", 1, 1) != nil {
		t.Fatal("granted after a failed copy")
	}
	if !slices.Contains(r.dirty, 0) {
		t.Fatal("the failed copy did not mark its partition")
	}
	clock.set(8 * time.Second)
	r.Synced("b", int64(8*time.Second))
	if grant("b", 1, 1) == nil {
		t.Fatal("no grant after a clean round")
	}

	// A node with leases off promises nothing.
	off := newRig(t, "p", quorum.AcksMajority, 0, clock, []string{"p", "b"})
	off.Grant(ctxT(t), &wire.LeaseMsg{From: "b", Version: 1, Nonce: 1})
	if calls := off.sender.take(); len(calls) != 0 {
		t.Fatalf("leases off, sent %+v", calls)
	}
}

// A backup reads from its copy only with a lease for the view's ring, and not until the view
// is ReadDelay old; never as the primary or as no replica of the partition.
func TestReadable(t *testing.T) {
	clock := newFakeClock()
	r := newRig(t, "b", quorum.AcksMajority, time.Second, clock, []string{"p", "b"}, []string{"b", "p"}, []string{"p", "c"})
	clock.set(time.Second)
	req := askedOf(t, r)["p"]
	r.Granted(&wire.LeaseMsg{From: "p", Version: 1, Nonce: req.Nonce, Dur: int64(time.Second)}) // until 1.9s
	for _, tc := range []struct {
		name    string
		p       int
		primary string
		at      time.Duration
		want    bool
	}{
		{"leased backup", 0, "p", 1500 * time.Millisecond, true},
		{"the lease ran out", 0, "p", 1900 * time.Millisecond, false},
		{"the view is too young", 0, "p", 50 * time.Millisecond, false},
		{"primary itself", 1, "b", 1500 * time.Millisecond, false},
		{"no replica", 2, "p", 1500 * time.Millisecond, false},
	} {
		if got := r.Readable(r.view, tc.p, tc.primary, clock.time(tc.at)); got != tc.want {
			t.Errorf("%s: readable %v, want %v", tc.name, got, tc.want)
		}
	}
	r.view.version = 2
	if r.Readable(r.view, 0, "p", clock.time(1500*time.Millisecond)) {
		t.Error("readable with a lease of another ring")
	}
}

// Reads answered from copies go to their primaries in one message each per flush.
func TestTouchesAreFlushedByPrimary(t *testing.T) {
	r := newRig(t, "b", quorum.AcksMajority, time.Second, newFakeClock(), []string{"p", "b"}, []string{"q", "b"})
	var id [16]byte
	r.Touch("p", id, 1)
	r.Touch("p", id, 2)
	r.Touch("q", id, 3)
	r.Touch("x", id, 4) // not a member: dropped
	r.FlushTouches(ctxT(t))
	got := map[string]*wire.TouchMsg{}
	for _, c := range r.sender.take() {
		if c.m != 10 {
			t.Fatalf("method %d", c.m)
		}
		got[c.addr] = c.req.(*wire.TouchMsg)
	}
	if len(got) != 2 || len(got["addr-p"].At) != 2 || len(got["addr-p"].IDs) != 32 || got["addr-q"].At[0] != 3 {
		t.Fatalf("touches %v", got)
	}
	if r.FlushTouches(ctxT(t)); len(r.sender.take()) != 0 {
		t.Fatal("flushed the same touches twice")
	}
}
