package sessions

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// pget reads one payload, or "" when the session or payload is missing.
func pget(s *Store, id ID, name string) string {
	res, err := s.Do(&Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte(name)})
	if err != nil {
		return ""
	}
	return string(res.Data)
}

// replicaOf returns a store that holds everything src holds, through SlotOps as a hand-off does.
func replicaOf(t *testing.T, src *Store, c *fakeClock, slot int) *Store {
	t.Helper()
	r := New(Config{Now: c.Now})
	src.SlotOps(slot, r.Apply)
	return r
}

// A write acknowledged on one side of a network partition while the other side rotated the
// session lands in the new id once the sides merge, in either order and through either path:
// the write's own op or a full copy of the old id sent by anti-entropy.
func TestRotationTakesInWritesItMissed(t *testing.T) {
	s, c := newTestStore()
	id := start(t, s, tenantA, 600)
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("cart"), Data: []byte("v1")})
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("user"), Data: []byte("u1")})
	a := replicaOf(t, s, c, id.Slot()) // the side that keeps writing to the old id
	b := replicaOf(t, s, c, id.Slot()) // the side that rotates

	c.Advance(time.Millisecond)
	write := do(t, a, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("cart"), Data: []byte("v2")}).Ops
	nid := mustID(t, id.Slot())
	c.Advance(time.Millisecond)
	rot := do(t, b, Command{Kind: KindRotate, Tenant: tenantA, ID: id, NewID: nid}).Ops
	if rot[0].Next != nid {
		t.Fatalf("rotation's tombstone names %q, want %q", rot[0].Next, nid)
	}

	check := func(name string, st *Store) {
		t.Helper()
		if got := pget(st, nid, "cart"); got != "v2" {
			t.Errorf("%s: new id's cart = %q, want the write made on the other side (v2)", name, got)
		}
		if got := pget(st, nid, "user"); got != "u1" {
			t.Errorf("%s: new id's user = %q, want u1", name, got)
		}
		if _, err := st.Do(&Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("cart")}); err != ErrNoSession {
			t.Errorf("%s: old id answers %v, want ErrNoSession", name, err)
		}
	}
	// The write's op reaches the side that rotated.
	for i := range write {
		b.Apply(&write[i])
	}
	check("rotated side, then the write", b)
	// The rotation's ops reach the side that wrote: its live copy of the old id moves over.
	for i := range rot {
		a.Apply(&rot[i])
	}
	check("writing side, then the rotation", a)
	if dump(a) != dump(b) {
		t.Fatalf("sides differ:\n%s\n--\n%s", dump(a), dump(b))
	}
	// Anti-entropy: a replica that only ever saw the write sends its full copy of the old id.
	b2 := replicaOf(t, s, c, id.Slot())
	for i := range rot {
		b2.Apply(&rot[i])
	}
	a2 := replicaOf(t, s, c, id.Slot())
	for i := range write {
		a2.Apply(&write[i])
	}
	a2.SlotOps(id.Slot(), b2.Apply)
	check("rotated side, then a full copy", b2)
	// The tombstone's link travels with it, so a third replica that learns the rotation by
	// anti-entropy forwards later copies too.
	third := New(Config{Now: c.Now})
	b.SlotOps(id.Slot(), third.Apply)
	late := do(t, a2, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("user"), Data: []byte("u2")}).Ops
	third.Apply(&late[0])
	if got := pget(third, nid, "user"); got != "u2" {
		t.Fatalf("third replica: new id's user = %q, want u2", got)
	}
	if op, ok := b.Export(id); !ok || !op.Ended || op.Next != nid {
		t.Fatalf("Export of the old id = %+v, %v", op, ok)
	}
}

// A session rotated twice takes a late copy of its first id into its last one; two rotations
// of one id (one per side of a partition) settle on the same successor on every replica.
func TestRotationChainsAndForks(t *testing.T) {
	s, c := newTestStore()
	id := start(t, s, tenantA, 600)
	stale := replicaOf(t, s, c, id.Slot())
	n1, n2 := mustID(t, id.Slot()), mustID(t, id.Slot())
	do(t, s, Command{Kind: KindRotate, Tenant: tenantA, ID: id, NewID: n1})
	do(t, s, Command{Kind: KindRotate, Tenant: tenantA, ID: n1, NewID: n2})
	c.Advance(time.Millisecond)
	late := do(t, stale, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("a"), Data: []byte("late")}).Ops
	s.Apply(&late[0])
	if got := pget(s, n2, "a"); got != "late" {
		t.Fatalf("after two rotations the last id's a = %q, want late", got)
	}

	base := start(t, s, tenantA, 600)
	x, y := mustID(t, base.Slot()), mustID(t, base.Slot())
	p := replicaOf(t, s, c, base.Slot())
	q := replicaOf(t, s, c, base.Slot())
	px := do(t, p, Command{Kind: KindRotate, Tenant: tenantA, ID: base, NewID: x}).Ops
	qy := do(t, q, Command{Kind: KindRotate, Tenant: tenantA, ID: base, NewID: y}).Ops
	for i := range qy {
		p.Apply(&qy[i])
	}
	for i := range px {
		q.Apply(&px[i])
	}
	if dump(p) != dump(q) {
		t.Fatalf("forked rotations diverge:\n%s\n--\n%s", dump(p), dump(q))
	}
	for _, nid := range []ID{x, y} {
		if _, err := p.Do(&Command{Kind: KindInfo, Tenant: tenantA, ID: nid}); err != nil {
			t.Fatalf("rotated id %s after the merge: %v", nid, err)
		}
	}
}

// Two primaries that write, end and rotate the same sessions independently (a split brain)
// and then exchange their ops in any order, with duplicates, end in the same state, links of
// rotated ids included.
func TestSplitBrainWithRotationsConverges(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		c := newFakeClock()
		base := New(Config{Now: c.Now})
		common := history(t, rng, base, c, 60)
		left, right := New(Config{Now: c.Now}), New(Config{Now: c.Now})
		for i := range common {
			left.Apply(&common[i])
			right.Apply(&common[i])
		}
		ops := append(history(t, rng, left, c, 150), history(t, rng, right, c, 150)...)
		var want string
		for r := 0; r < 3; r++ {
			replica := New(Config{Now: c.Now})
			shuffled := append(slices.Clone(common), ops...)
			shuffled = append(shuffled, ops[:len(ops)/4]...)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			for i := range shuffled {
				replica.Apply(&shuffled[i])
			}
			got := dump(replica)
			if r == 0 {
				want = got
			} else if got != want {
				t.Fatalf("seed %d replica %d diverged:\n got %s\nwant %s", seed, r, got, want)
			}
		}
	}
}
