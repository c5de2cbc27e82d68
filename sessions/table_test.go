package sessions

import (
	"math/rand/v2"
	"testing"
)

// The table must behave like a map under any mix of puts and deletes, including deletes that
// shift probe runs across the wrap-around.
func TestTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var tb table
	ref := map[ID]*record{}
	var ids []ID
	for i := 0; i < 200000; i++ {
		switch op := rng.IntN(10); {
		case op < 5 || len(ids) == 0:
			r := &record{id: mustID(t, -1)}
			if rng.IntN(4) == 0 { // force collisions on the first bytes
				r.id = ID{}
				copy(r.id[:], "0000000000000000")
				r.id[15] = alphabet[rng.IntN(62)]
				r.id[14] = alphabet[rng.IntN(3)]
			}
			if old := tb.put(r); old != ref[r.id] {
				t.Fatalf("put returned %p, want %p", old, ref[r.id])
			}
			if ref[r.id] == nil {
				ids = append(ids, r.id)
			}
			ref[r.id] = r
		case op < 8:
			k := rng.IntN(len(ids))
			id := ids[k]
			if got := tb.del(id); got != ref[id] {
				t.Fatalf("del returned %p, want %p", got, ref[id])
			}
			delete(ref, id)
			ids[k] = ids[len(ids)-1]
			ids = ids[:len(ids)-1]
		default:
			id := mustID(t, -1)
			if len(ids) > 0 && rng.IntN(2) == 0 {
				id = ids[rng.IntN(len(ids))]
			}
			if tb.get(id) != ref[id] {
				t.Fatalf("get mismatch for %s", id)
			}
		}
		if tb.len() != len(ref) {
			t.Fatalf("len %d, want %d", tb.len(), len(ref))
		}
	}
	for id, r := range ref {
		if tb.get(id) != r {
			t.Fatalf("lost %s", id)
		}
	}
	seen := 0
	tb.each(func(*record) { seen++ })
	if seen != len(ref) {
		t.Fatalf("each saw %d of %d", seen, len(ref))
	}
}

// Every occupied slot's tag is its record's, and only empty slots have tag 0: a lookup that
// trusts a stale tag would skip its record or stop early.
func TestTableTagsFollowTheirRecords(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	var tb table
	var ids []ID
	check := func() {
		t.Helper()
		for i, r := range tb.slots {
			want := uint8(0)
			if r != nil {
				want = tagOf(hashID(&r.id))
			}
			if tb.tags[i] != want {
				t.Fatalf("slot %d: tag %d, want %d", i, tb.tags[i], want)
			}
		}
	}
	for round := 0; round < 50; round++ {
		for i := 0; i < 300; i++ {
			r := &record{id: mustID(t, -1)}
			tb.put(r)
			ids = append(ids, r.id)
		}
		check()
		for i := 0; i < 250; i++ { // deletes shift runs back, and shrink the table at times
			k := rng.IntN(len(ids))
			tb.del(ids[k])
			ids[k] = ids[len(ids)-1]
			ids = ids[:len(ids)-1]
		}
		check()
	}
	if tagOf(0) == 0 || tagOf(1<<56) != 1 {
		t.Fatal("tag 0 is reserved for empty slots")
	}
}
