package sessions

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// dump renders the replicated state of a store: everything but read counters and last-seen,
// which travel lazily.
func dump(s *Store) string {
	var lines []string
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, r := range sh.live.slots {
			if r == nil {
				continue
			}
			id := r.id
			m := splitBlob(r.bytes())
			tn := s.tenants.get(r.tenant)
			line := fmt.Sprintf("%s t=%x dl=%d hv=%d idle=%d c=%d o=%s ip=%s ua=%s", id, tn[:4], r.deadline, r.hver, r.idle, r.created, m.owner, m.ip, m.ua)
			it := fieldIter{m.fields}
			for n, v, d, ok := it.next(); ok; n, v, d, ok = it.next() {
				line += fmt.Sprintf(" [%s v%d %q]", n, v, d)
			}
			lines = append(lines, line)
		}
		for id := range sh.tombs {
			line := id.String() + " ENDED"
			if next, ok := sh.next[id]; ok {
				line += " -> " + next.String()
			}
			lines = append(lines, line)
		}
		sh.mu.Unlock()
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// history runs a random workload on a primary and returns the ops it produced.
func history(t *testing.T, rng *rand.Rand, s *Store, c *fakeClock, n int) []Op {
	units, _ := historyUnits(t, rng, s, c, n, nil)
	return slices.Concat(units...)
}

// historyUnits runs a random workload on a primary, over the sessions in ids and the ones it
// starts, and returns each command's ops (a unit: they travel together, in order) and the ids.
func historyUnits(t *testing.T, rng *rand.Rand, s *Store, c *fakeClock, n int, ids []ID) ([][]Op, []ID) {
	var units [][]Op
	ids = slices.Clone(ids)
	names := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	for i := 0; i < n; i++ {
		c.Advance(time.Duration(rng.IntN(3)) * time.Millisecond)
		var cmd Command
		if len(ids) == 0 || rng.IntN(6) == 0 {
			id := mustID(t, rng.IntN(4)) // few slots, so sessions share shards
			ids = append(ids, id)
			cmd = Command{Kind: KindStart, ID: id, TTL: 3600, Owner: []byte("o"), IP: []byte("ip")}
		} else {
			id := ids[rng.IntN(len(ids))]
			name := names[rng.IntN(len(names))]
			switch rng.IntN(10) {
			case 0:
				cmd = Command{Kind: KindEnd, ID: id}
			case 1:
				cmd = Command{Kind: KindExpire, ID: id, TTL: int64(100 + rng.IntN(1000))}
			case 2:
				cmd = Command{Kind: KindPDel, ID: id, Name: name}
			case 3:
				cmd = Command{Kind: KindIdle, ID: id, Idle: uint32(rng.IntN(500) + 500)}
			case 4:
				cmd = Command{Kind: KindPUpdate, ID: id, Updates: []Update{{Name: name, Data: []byte(fmt.Sprint(i))}, {Name: names[0], Delete: true}}}
			case 5:
				nid := mustID(t, id.Slot())
				ids = append(ids, nid)
				cmd = Command{Kind: KindRotate, ID: id, NewID: nid}
			default:
				cmd = Command{Kind: KindPSet, ID: id, Name: name, Data: []byte(fmt.Sprint(i))}
			}
		}
		cmd.Tenant = tenantA
		res, err := s.Do(&cmd)
		if err == nil && len(res.Ops) > 0 {
			units = append(units, res.Ops)
		}
	}
	return units, ids
}

// Replicas that receive the primary's ops in any order, with duplicates, end in its state.
func TestApplyConverges(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		c := newFakeClock()
		primary := New(Config{Now: c.Now})
		ops := history(t, rng, primary, c, 300)
		want := dump(primary)
		for r := 0; r < 3; r++ {
			replica := New(Config{Now: c.Now})
			shuffled := append(slices.Clone(ops), ops[:len(ops)/3]...)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			for i := range shuffled {
				replica.Apply(&shuffled[i])
			}
			if got := dump(replica); got != want {
				t.Fatalf("seed %d replica %d diverged:\n got %s\nwant %s", seed, r, got, want)
			}
		}
	}
}

func TestEndedNeverComesBack(t *testing.T) {
	s, c := newTestStore()
	id := start(t, s, tenantA, 60)
	set := do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("a"), Data: []byte("1")}).Ops[0]
	end := do(t, s, Command{Kind: KindEnd, Tenant: tenantA, ID: id}).Ops[0]
	s.Apply(&set)
	wantErr(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("a")}, ErrNoSession)
	// On a replica that sees the END first.
	r := New(Config{Now: c.Now})
	r.Apply(&end)
	r.Apply(&set)
	if st := r.Stats(); st.Sessions != 0 {
		t.Fatal("older write resurrected an ended session")
	}
	// A deleted payload stays deleted when an older copy of it arrives.
	id2 := start(t, s, tenantA, 60)
	set2 := do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id2, Name: []byte("a"), Data: []byte("1")}).Ops[0]
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id2, Name: []byte("b"), Data: []byte("1")})
	do(t, s, Command{Kind: KindPDel, Tenant: tenantA, ID: id2, Name: []byte("a")})
	s.Apply(&set2)
	wantErr(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id2, Name: []byte("a")}, ErrNoPayload)
}

func TestExpiredNeverComesBack(t *testing.T) {
	s, c := newTestStore()
	id := start(t, s, tenantA, 3600)
	long := do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("a"), Data: []byte("1")}).Ops[0]
	do(t, s, Command{Kind: KindExpire, Tenant: tenantA, ID: id, TTL: 5})
	c.Advance(6 * time.Second)
	s.Sweep(numShards, nil)
	// A stale copy that still carries the old, later deadline arrives after expiry.
	s.Apply(&long)
	wantErr(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("a")}, ErrNoSession)
	if st := s.Stats(); st.Sessions != 0 {
		t.Fatal("expired session resurrected")
	}
	// A copy of a session already past its deadline is dropped on arrival.
	r := New(Config{Now: c.Now})
	old := long
	old.Deadline = c.Now().UnixMilli() - 1
	r.Apply(&old)
	if st := r.Stats(); st.Sessions != 0 {
		t.Fatal("expired copy stored")
	}
}

func TestHLCMonotonic(t *testing.T) {
	var c clock
	a := c.next(1000)
	b := c.next(1000)
	c.observe(5000 << 16)
	d := c.next(2000) // wall clock behind what we observed
	if !(a < b && b < d && d > 5000<<16) {
		t.Fatalf("versions %d %d %d", a, b, d)
	}
}
