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

// rotatedTwice starts a session on a primary, copies it to a replica that then misses two
// rotations of it (id -> n1 -> n2), and moves the clock on so the replica's next write is newer.
func rotatedTwice(t *testing.T) (s *Store, c *fakeClock, id, n2 ID, stale *Store) {
	t.Helper()
	s, c = newTestStore()
	id = start(t, s, tenantA, 600)
	stale = replicaOf(t, s, c, id.Slot())
	n1 := mustID(t, id.Slot())
	n2 = mustID(t, id.Slot())
	do(t, s, Command{Kind: KindRotate, Tenant: tenantA, ID: id, NewID: n1})
	do(t, s, Command{Kind: KindRotate, Tenant: tenantA, ID: n1, NewID: n2})
	c.Advance(time.Millisecond)
	return s, c, id, n2, stale
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
	if end := rot[len(rot)-1]; !end.Ended || end.Next != nid {
		t.Fatalf("rotation's last op %+v, want the old id's tombstone naming %q", end, nid)
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
	s, c, id, n2, stale := rotatedTwice(t)
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
// and then exchange their ops (each command's ops together and in order, as every stream
// sends them, but the commands in any order and with duplicates) end in the same state after
// one anti-entropy exchange, links of rotated ids included; and a write one side made to a
// session the other side rotated is found in the rotated session.
//
// The exchange is needed where both sides ended one id (one rotated it, the other rotated it
// too or ended it): a replica then carries the old id's last copy only into the rotation it
// heard of first, or none. Forwarding only ever adds payload versions to live sessions, which
// the exchange's merge unites, so replicas agree once they have compared digests.
func TestSplitBrainWithRotationsConverges(t *testing.T) {
	carried := 0
	for seed := uint64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		c := newFakeClock()
		base := New(Config{Now: c.Now})
		common, ids := historyUnits(t, rng, base, c, 40, nil)
		left, right := New(Config{Now: c.Now}), New(Config{Now: c.Now})
		for _, u := range common {
			for i := range u {
				left.Apply(&u[i])
				right.Apply(&u[i])
			}
		}
		lu, _ := historyUnits(t, rng, left, c, 120, ids)
		ru, _ := historyUnits(t, rng, right, c, 120, ids)
		units := slices.Concat(common, lu, ru)
		replicas := make([]*Store, 3)
		for r := range replicas {
			replicas[r] = New(Config{Now: c.Now})
			shuffled := append(slices.Clone(units), units[:len(units)/4]...)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			for _, u := range shuffled {
				for i := range u {
					replicas[r].Apply(&u[i])
				}
			}
		}
		for _, from := range replicas {
			for _, to := range replicas {
				for slot := 0; slot < 4; slot++ {
					from.SlotOps(slot, to.Apply)
				}
			}
		}
		want := dump(replicas[0])
		for r, replica := range replicas[1:] {
			if got := dump(replica); got != want {
				t.Fatalf("seed %d replica %d diverged:\n got %s\nwant %s", seed, r+1, got, want)
			}
		}
		carried += checkCarried(t, seed, lu, ru, replicas[0])
	}
	t.Logf("%d carried writes checked", carried)
	if carried == 0 {
		t.Fatal("no write was made to a session the other side rotated: the test checks nothing")
	}
}

// checkCarried finds the payload writes one side made to a session that the other side
// rotated into a session nobody ended, and requires each in the merged store unless a later
// version of that payload is there. Writes to an id their own side ended or rotated as well
// are skipped (see above). It returns how many it checked.
func checkCarried(t *testing.T, seed uint64, lu, ru [][]Op, merged *Store) int {
	t.Helper()
	checked := 0
	for _, side := range [][2][][]Op{{lu, ru}, {ru, lu}} {
		rot := rotatedTo(side[1])
		ended := map[ID]bool{}
		for _, u := range side[0] {
			for _, op := range u {
				if op.Ended {
					ended[op.ID] = true
				}
			}
		}
		for _, u := range side[0] {
			for _, op := range u {
				nid, ok := rot[op.ID]
				if op.Ended || !ok || ended[op.ID] || merged.Ended(nid) {
					continue
				}
				got, found := merged.Export(nid)
				if !found {
					t.Fatalf("seed %d: %s was rotated into %s, which is neither live nor ended", seed, op.ID, nid)
				}
				for _, f := range op.Fields {
					var ver uint64
					for _, g := range got.Fields {
						if string(g.Name) == string(f.Name) {
							ver = g.Ver
						}
					}
					if ver < f.Ver {
						t.Fatalf("seed %d: write %s=%q (v%d) to %s is not in %s, rotated from it on the other side (has v%d)",
							seed, f.Name, f.Data, f.Ver, op.ID, nid, ver)
					}
					checked++
				}
			}
		}
	}
	return checked
}

// rotatedTo maps each id the units rotated to the id it was rotated into.
func rotatedTo(units [][]Op) map[ID]ID {
	m := map[ID]ID{}
	for _, u := range units {
		for _, op := range u {
			if op.Ended && !op.Next.IsZero() {
				m[op.ID] = op.Next
			}
		}
	}
	return m
}

// Following a rotation never creates a session: a replica that learns the link before the
// new session (or after that session ended and its tombstone was forgotten) drops the copy
// rather than bring back what may have ended. ExportChain sends the new session first.
func TestRotationNeverCreatesTheNewID(t *testing.T) {
	s, c := newTestStore()
	id := start(t, s, tenantA, 600)
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("a"), Data: []byte("1")})
	stale := replicaOf(t, s, c, id.Slot())
	nid := mustID(t, id.Slot())
	rot := do(t, s, Command{Kind: KindRotate, Tenant: tenantA, ID: id, NewID: nid}).Ops
	do(t, s, Command{Kind: KindEnd, Tenant: tenantA, ID: nid})

	chain := s.ExportChain(id)
	if len(chain) != 2 || chain[0].ID != nid || !chain[0].Ended || chain[1].ID != id || chain[1].Next != nid {
		t.Fatalf("ExportChain = %+v, want the ended new id, then the old id's linked tombstone", chain)
	}
	if got := s.ExportChain(mustID(t, id.Slot())); got != nil {
		t.Fatalf("ExportChain of an unknown id = %+v", got)
	}
	lone := rot[len(rot)-1] // the old id's tombstone alone, without the new session
	stale.Apply(&lone)
	if _, err := stale.Do(&Command{Kind: KindInfo, Tenant: tenantA, ID: nid}); err != ErrNoSession {
		t.Fatalf("the new id was created from the old id's copy: %v", err)
	}
	if st := stale.Stats(); st.Sessions != 0 {
		t.Fatalf("%d live sessions after the old id ended", st.Sessions)
	}
}

// A hand-off or repair stream sends a chain of rotations newest link first, so a replica that
// still holds the first id with a write the others never saw carries it to the live end of
// the chain, whatever order the store's maps hold the tombstones in.
func TestSlotOpsSendsAChainNewestLinkFirst(t *testing.T) {
	for try := 0; try < 20; try++ {
		s, _, id, n2, cut := rotatedTwice(t)
		do(t, cut, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("a"), Data: []byte("cut off")})
		s.SlotOps(id.Slot(), cut.Apply)
		if got := pget(cut, n2, "a"); got != "cut off" {
			t.Fatalf("try %d: the chain's live end holds a=%q, want the cut-off write", try, got)
		}
	}
}
