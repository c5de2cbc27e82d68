package sessions

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable wall clock.
type fakeClock struct{ ms atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ms.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

var (
	tenantA = TenantOf([]byte("key-a"))
	tenantB = TenantOf([]byte("key-b"))
)

func newTestStore() (*Store, *fakeClock) {
	c := newFakeClock()
	return New(Config{Now: c.Now}), c
}

func mustID(t testing.TB, slot int) ID {
	t.Helper()
	id, err := NewID(rand.Reader, slot)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func do(t testing.TB, s *Store, cmd Command) Result {
	t.Helper()
	res, err := s.Do(&cmd)
	if err != nil {
		t.Fatalf("%v: %v", cmd.Kind, err)
	}
	return res
}

func start(t testing.TB, s *Store, tenant Tenant, ttl int64) ID {
	id := mustID(t, -1)
	do(t, s, Command{Kind: KindStart, Tenant: tenant, ID: id, TTL: ttl})
	return id
}

func wantErr(t *testing.T, s *Store, cmd Command, want error) {
	t.Helper()
	if _, err := s.Do(&cmd); !errors.Is(err, want) {
		t.Fatalf("%v: err %v, want %v", cmd.Kind, err, want)
	}
}

func TestPayloadLifecycle(t *testing.T) {
	s, _ := newTestStore()
	id := start(t, s, tenantA, 60)
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("user"), Data: []byte(`{"n":1}`)})
	if got := do(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("user")}); string(got.Data) != `{"n":1}` {
		t.Fatalf("PGET %q", got.Data)
	}
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("user"), Data: []byte("v2")})
	if got := do(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("user")}); string(got.Data) != "v2" {
		t.Fatalf("PSET did not overwrite: %q", got.Data)
	}
	wantErr(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("nope")}, ErrNoPayload)
	// The quirk: PDEL of a missing name is OK while other payloads exist...
	do(t, s, Command{Kind: KindPDel, Tenant: tenantA, ID: id, Name: []byte("nope")})
	do(t, s, Command{Kind: KindPDel, Tenant: tenantA, ID: id, Name: []byte("user")})
	wantErr(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("user")}, ErrNoPayload)
	// ...and an error when the session has no payload at all.
	wantErr(t, s, Command{Kind: KindPDel, Tenant: tenantA, ID: id, Name: []byte("user")}, ErrNoPayload)
	do(t, s, Command{Kind: KindEnd, Tenant: tenantA, ID: id})
	wantErr(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("user")}, ErrNoSession)
	wantErr(t, s, Command{Kind: KindEnd, Tenant: tenantA, ID: id}, ErrNoSession)
}

func TestCheckOrder(t *testing.T) {
	s, _ := newTestStore()
	id := start(t, s, tenantA, 60)
	long := make([]byte, MaxNameLen+1)
	// Existence comes before the tenant, the tenant before payload checks.
	wantErr(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: mustID(t, -1), Name: nil}, ErrNoSession)
	wantErr(t, s, Command{Kind: KindPSet, Tenant: tenantB, ID: id, Name: nil}, ErrWrongKey)
	wantErr(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: nil}, ErrNameEmpty)
	wantErr(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: long}, ErrNameTooLong)
	wantErr(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("n")}, ErrDataEmpty)
	wantErr(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("n"), Data: make([]byte, MaxDataLen+1)}, ErrDataTooLong)
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: long[:MaxNameLen], Data: make([]byte, MaxDataLen)})
	wantErr(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: long}, ErrNameTooLong)
}

func TestExpiry(t *testing.T) {
	s, c := newTestStore()
	id := start(t, s, tenantA, 10)
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("a"), Data: []byte("b")})
	if ttl := do(t, s, Command{Kind: KindTTL, Tenant: tenantA, ID: id}).Int; ttl != 10 {
		t.Fatalf("ttl %d", ttl)
	}
	c.Advance(9999 * time.Millisecond)
	do(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("a")})
	c.Advance(time.Millisecond)
	// Never answers at or after its deadline, even before any sweep.
	wantErr(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("a")}, ErrNoSession)
	if st := s.Stats(); st.Sessions != 1 {
		t.Fatalf("sessions before sweep %d", st.Sessions)
	}
	n, ops := s.Sweep(numShards, nil)
	if n != 1 || len(ops) != 0 {
		t.Fatalf("sweep ended %d with %d ops; absolute expiry needs no ops", n, len(ops))
	}
	if st := s.Stats(); st.Sessions != 0 || st.BlobBytes != 0 {
		t.Fatalf("after sweep: %+v", st)
	}
	// The tombstone is forgotten after the grace period.
	c.Advance(11 * time.Minute)
	s.Sweep(numShards, nil)
	if st := s.Stats(); st.Tombstones != 0 {
		t.Fatalf("tombstones %d", st.Tombstones)
	}
}

func TestExpireCommand(t *testing.T) {
	s, c := newTestStore()
	id := start(t, s, tenantA, 10)
	do(t, s, Command{Kind: KindExpire, Tenant: tenantA, ID: id, TTL: 100})
	c.Advance(50 * time.Second)
	do(t, s, Command{Kind: KindTTL, Tenant: tenantA, ID: id})
	do(t, s, Command{Kind: KindExpire, Tenant: tenantA, ID: id, TTL: 0})
	wantErr(t, s, Command{Kind: KindTTL, Tenant: tenantA, ID: id}, ErrNoSession)
	// START with ttl 0 creates nothing.
	id2 := mustID(t, -1)
	do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: id2, TTL: 0})
	wantErr(t, s, Command{Kind: KindTTL, Tenant: tenantA, ID: id2}, ErrNoSession)
}

func TestIdleTimeout(t *testing.T) {
	s, c := newTestStore()
	id := mustID(t, -1)
	do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: id, TTL: 3600, Idle: 60})
	for i := 0; i < 5; i++ {
		c.Advance(50 * time.Second)
		do(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id}) // a read refreshes it
	}
	if ttl := do(t, s, Command{Kind: KindTTL, Tenant: tenantA, ID: id}).Int; ttl != 60 {
		t.Fatalf("ttl %d, want the idle window 60", ttl)
	}
	c.Advance(59 * time.Second)
	do(t, s, Command{Kind: KindTTL, Tenant: tenantA, ID: id}) // TTL does not refresh
	c.Advance(time.Second)
	wantErr(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id}, ErrNoSession)
	// Idle expiry is ended only by the primary, and replicated as a tombstone.
	if n, _ := s.Sweep(numShards, func(int) bool { return false }); n != 0 {
		t.Fatalf("a backup ended an idle session")
	}
	n, ops := s.Sweep(numShards, func(int) bool { return true })
	if n != 1 || len(ops) != 1 || !ops[0].Ended {
		t.Fatalf("primary sweep: %d %v", n, ops)
	}
	// IDLE 0 removes the timeout.
	id2 := mustID(t, -1)
	do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: id2, TTL: 3600, Idle: 10})
	do(t, s, Command{Kind: KindIdle, Tenant: tenantA, ID: id2, Idle: 0})
	c.Advance(time.Hour - time.Second)
	do(t, s, Command{Kind: KindTTL, Tenant: tenantA, ID: id2})
}

func TestInfoAndCounters(t *testing.T) {
	s, c := newTestStore()
	id := mustID(t, OwnerSlot(tenantA, []byte("u1")))
	do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: id, TTL: 100, Owner: []byte("u1"), IP: []byte("10.0.0.1"), UA: []byte("ua")})
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("a"), Data: []byte("1")})
	do(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("a")})
	c.Advance(3 * time.Second)
	info := do(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id}).Info
	if string(info.Owner) != "u1" || string(info.IP) != "10.0.0.1" || string(info.UA) != "ua" ||
		info.Reads != 2 || info.Writes != 1 || info.Payloads != 1 || info.TTL != 97000 {
		t.Fatalf("info %+v", info)
	}
}

func TestPUpdateAtomic(t *testing.T) {
	s, _ := newTestStore()
	id := start(t, s, tenantA, 60)
	do(t, s, Command{Kind: KindPUpdate, Tenant: tenantA, ID: id, Updates: []Update{
		{Name: []byte("name"), Data: []byte("Peter")}, {Name: []byte("msgs"), Data: []byte("12")}, {Name: []byte("age"), Data: []byte("46")},
	}})
	// A bad step rejects the whole update.
	wantErr(t, s, Command{Kind: KindPUpdate, Tenant: tenantA, ID: id, Updates: []Update{
		{Name: []byte("name"), Data: []byte("X")}, {Name: []byte("bad"), Data: nil},
	}}, ErrDataEmpty)
	do(t, s, Command{Kind: KindPUpdate, Tenant: tenantA, ID: id, Updates: []Update{
		{Name: []byte("name"), Data: []byte("Bruce")}, {Name: []byte("msgs"), Delete: true},
		{Name: []byte("job"), Data: []byte("gold")}, {Name: []byte("never"), Delete: true},
		{Name: []byte("job"), Data: []byte("gold records")},
	}})
	got := do(t, s, Command{Kind: KindPGetAll, Tenant: tenantA, ID: id}).Fields
	want := "age=46,job=gold records,name=Bruce,"
	var have string
	for _, f := range got {
		have += fmt.Sprintf("%s=%s,", f.Name, f.Data)
	}
	if have != want {
		t.Fatalf("fields %s, want %s", have, want)
	}
}

func TestRotate(t *testing.T) {
	s, _ := newTestStore()
	id := start(t, s, tenantA, 60)
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("a"), Data: []byte("1")})
	nid := mustID(t, id.Slot())
	res := do(t, s, Command{Kind: KindRotate, Tenant: tenantA, ID: id, NewID: nid})
	if len(res.Ops) != 2 || res.Ops[0].Ended || res.Ops[0].ID != nid || !res.Ops[1].Ended || res.Ops[1].Next != nid {
		t.Fatalf("rotate ops %+v", res.Ops)
	}
	wantErr(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("a")}, ErrNoSession)
	if got := do(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: nid, Name: []byte("a")}); string(got.Data) != "1" {
		t.Fatalf("rotated data %q", got.Data)
	}
	wantErr(t, s, Command{Kind: KindRotate, Tenant: tenantA, ID: nid, NewID: mustID(t, (nid.Slot()+1)%Slots)}, ErrBadCommand)
}

func createOwned(t testing.TB, s *Store, tenant Tenant, owner string, max int, evict bool) (ID, error) {
	id := mustID(t, OwnerSlot(tenant, []byte(owner)))
	_, err := s.Do(&Command{Kind: KindStart, Tenant: tenant, ID: id, TTL: 600, Owner: []byte(owner), MaxSessions: max, Evict: evict})
	return id, err
}

func TestOwnersAndLimits(t *testing.T) {
	s, c := newTestStore()
	var ids []ID
	for i := 0; i < 3; i++ {
		id, err := createOwned(t, s, tenantA, "alice", 3, false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		c.Advance(time.Second)
	}
	if _, err := createOwned(t, s, tenantA, "alice", 3, false); !errors.Is(err, ErrOwnerLimit) {
		t.Fatalf("refuse: %v", err)
	}
	// Another tenant's alice is someone else.
	if _, err := createOwned(t, s, tenantB, "alice", 3, false); err != nil {
		t.Fatal(err)
	}
	newest, err := createOwned(t, s, tenantA, "alice", 3, true)
	if err != nil {
		t.Fatal(err)
	}
	list := do(t, s, Command{Kind: KindList, Tenant: tenantA, Owner: []byte("alice")}).Sessions
	if len(list) != 3 || list[0].ID != ids[1] || list[2].ID != newest {
		t.Fatalf("after evict: %v", list)
	}
	wantErr(t, s, Command{Kind: KindTTL, Tenant: tenantA, ID: ids[0]}, ErrNoSession)
	if n := do(t, s, Command{Kind: KindEndOwner, Tenant: tenantA, Owner: []byte("alice")}).Int; n != 3 {
		t.Fatalf("ENDOWNER ended %d", n)
	}
	if list := do(t, s, Command{Kind: KindList, Tenant: tenantB, Owner: []byte("alice")}).Sessions; len(list) != 1 {
		t.Fatalf("other tenant's alice touched: %v", list)
	}
}

func TestTenantWide(t *testing.T) {
	s, c := newTestStore()
	for i := 0; i < 20; i++ {
		createOwned(t, s, tenantA, fmt.Sprintf("u%d", i%5), 0, false)
		start(t, s, tenantB, 60)
	}
	start(t, s, tenantA, 60) // no owner: not counted by ACTIVITY
	c.Advance(10 * time.Second)
	id, _ := createOwned(t, s, tenantA, "u0", 0, false)
	wantErr(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("x")}, ErrNoPayload)
	if n := do(t, s, Command{Kind: KindActivity, Tenant: tenantA, Seconds: 60}).Int; n != 5 {
		t.Fatalf("activity 60s: %d", n)
	}
	if n := do(t, s, Command{Kind: KindActivity, Tenant: tenantA, Seconds: 5}).Int; n != 1 {
		t.Fatalf("activity 5s: %d", n)
	}
	act := do(t, s, Command{Kind: KindActive, Tenant: tenantA, Seconds: 60, Limit: 3}).Sessions
	if len(act) != 3 || act[0].ID != id {
		t.Fatalf("active: %d entries, first %v", len(act), act[0].ID)
	}
	if n := do(t, s, Command{Kind: KindEndAll, Tenant: tenantA}).Int; n != 22 {
		t.Fatalf("ENDALL ended %d", n)
	}
	if st := s.Stats(); st.Sessions != 20 {
		t.Fatalf("tenant B lost sessions: %d left", st.Sessions)
	}
}

// END racing PSET must never leave a readable payload behind.
func TestEndRacesPSet(t *testing.T) {
	s, _ := newTestStore()
	for round := 0; round < 200; round++ {
		id := start(t, s, tenantA, 60)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				s.Do(&Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("k"), Data: []byte("v")})
			}
		}()
		go func() {
			defer wg.Done()
			s.Do(&Command{Kind: KindEnd, Tenant: tenantA, ID: id})
		}()
		wg.Wait()
		wantErr(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("k")}, ErrNoSession)
	}
	if st := s.Stats(); st.Sessions != 0 || st.BlobBytes != 0 {
		t.Fatalf("leftovers %+v", st)
	}
}

// Ops returned by a write are replicated after Do returns, when the request buffer may hold
// the next command: they must not share memory with the command.
func TestOpsDoNotAliasCommand(t *testing.T) {
	s, _ := newTestStore()
	id := start(t, s, tenantA, 60)
	name, data := []byte("name"), []byte("data")
	res := do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: name, Data: data})
	copy(name, "XXXX")
	copy(data, "YYYY")
	f := res.Ops[0].Fields[0]
	if string(f.Name) != "name" || string(f.Data) != "data" {
		t.Fatalf("op changed with the request buffer: %q=%q", f.Name, f.Data)
	}
}

// A command's clock reading (At) is the time it runs at: it decides expiry and a new
// session's deadline, and without one the store reads its own clock.
func TestCommandAtIsItsTime(t *testing.T) {
	s, clk := newTestStore()
	id := start(t, s, tenantA, 10)
	now := clk.Now().UnixMilli()
	ttl := do(t, s, Command{Kind: KindTTL, Tenant: tenantA, ID: id, At: now + 4000})
	if ttl.Int != 6 {
		t.Fatalf("TTL read at +4 s = %d, want 6", ttl.Int)
	}
	wantErr(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("n"), At: now + 10_000}, ErrNoSession)
	if got := do(t, s, Command{Kind: KindTTL, Tenant: tenantA, ID: id}); got.Int != 10 {
		t.Fatalf("TTL by the store's clock = %d, want 10", got.Int)
	}
	late := mustID(t, -1)
	do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: late, TTL: 10, At: now + 5000})
	clk.Advance(14 * time.Second)
	if got := do(t, s, Command{Kind: KindTTL, Tenant: tenantA, ID: late}); got.Int != 1 {
		t.Fatalf("a session started at +5 s for 10 s has %d s left at +14 s, want 1", got.Int)
	}
}
