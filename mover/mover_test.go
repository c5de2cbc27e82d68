package mover

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/ring"
	"github.com/sessiongate/sessiongate/sessions"
)

// net is a set of members' stores reached by address, in process: the Peers of every Mover
// in a test. Addresses in down fail.
type net struct {
	mu     sync.Mutex
	stores map[string]*sessions.Store
	down   map[string]bool
}

func (n *net) store(addr string) (*sessions.Store, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down[addr] {
		return nil, errors.New("unreachable")
	}
	return n.stores[addr], nil
}

func (n *net) Pull(_ context.Context, addr string, slot int) ([]sessions.Op, error) {
	s, err := n.store(addr)
	if err != nil {
		return nil, err
	}
	var ops []sessions.Op
	s.SlotOps(slot, func(op *sessions.Op) { ops = append(ops, *op) })
	return ops, nil
}

func (n *net) Push(_ context.Context, addr string, ops []sessions.Op) error {
	s, err := n.store(addr)
	if err != nil {
		return err
	}
	for i := range ops {
		s.Apply(&ops[i])
	}
	return nil
}

func (n *net) Digests(_ context.Context, addr string, slots []uint16) ([]uint64, error) {
	s, err := n.store(addr)
	if err != nil {
		return nil, err
	}
	return s.SlotDigests(intSlots(slots)), nil
}

func (n *net) Fetch(_ context.Context, addr string, id sessions.ID) ([]sessions.Op, error) {
	s, err := n.store(addr)
	if err != nil {
		return nil, err
	}
	return s.ExportChain(id), nil
}

// fixedView is a view whose every partition is ready; members are their own addresses.
type fixedView struct{ r *ring.Ring }

func (v fixedView) Ring() *ring.Ring                  { return v.r }
func (v fixedView) Addr(member string) (string, bool) { return member, true }
func (v fixedView) Ready(int) <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

var tenant = sessions.TenantOf([]byte("key"))

// startIn starts a session in store s on partition p of r.
func startIn(t *testing.T, s *sessions.Store, r *ring.Ring, p int) sessions.ID {
	t.Helper()
	id, err := sessions.NewID(rand.Reader, p) // slot p is in partition p
	if err != nil {
		t.Fatal(err)
	}
	if r.PartitionOfSlot(id.Slot()) != p {
		t.Fatalf("slot %d is not in partition %d", id.Slot(), p)
	}
	if _, err := s.Do(&sessions.Command{Kind: sessions.KindStart, Tenant: tenant, ID: id, TTL: 3600}); err != nil {
		t.Fatal(err)
	}
	return id
}

func newMover(t *testing.T, self string, n *net, v View, insync func(string, int64)) *Mover {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if insync == nil {
		insync = func(string, int64) {}
	}
	cfg := Config{Self: self, RPCTimeout: time.Second, HandoffDelay: time.Millisecond, DropAfter: time.Millisecond,
		Current: func() View { return v }, Install: &sync.Mutex{}, InSync: insync,
		Clock: func() int64 { return 7 }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return New(ctx, cfg, v.Ring().Partitions(), n, n.stores[self])
}

func threeStores() *net {
	return &net{stores: map[string]*sessions.Store{"a": sessions.New(sessions.Config{}),
		"b": sessions.New(sessions.Config{}), "c": sessions.New(sessions.Config{})}, down: map[string]bool{}}
}

// A gated pull opens its gate once every source was tried, and the pulled session is here by
// then; the count of pulls under way covers the whole pull.
func TestPullOpensTheGateWithTheDataIn(t *testing.T) {
	n := threeStores()
	r := mustRing(t, "a", "b", "c")
	v := fixedView{r}
	id := startIn(t, n.stores["b"], r, 3)
	m := newMover(t, "a", n, v, nil)
	ready := make(chan struct{})
	m.Start(v, []Pull{{Sync: Sync{P: 3, From: []string{"b", "c"}, Gate: true}, Ready: ready}})
	if !m.Pulling(3) || m.InProgress() != 1 {
		t.Fatal("a started pull is not counted")
	}
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("gate never opened")
	}
	if _, ok := n.stores["a"].Export(id); !ok {
		t.Fatal("gate opened before the session was pulled")
	}
	deadline := time.Now().Add(5 * time.Second)
	for m.Pulling(3) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if m.Pulling(3) {
		t.Fatal("pull still counted after it finished")
	}
}

// A source that does not answer holds the gate only for its first try.
func TestPullGateDoesNotWaitForRetries(t *testing.T) {
	n := threeStores()
	n.down["c"] = true
	r := mustRing(t, "a", "b", "c")
	m := newMover(t, "a", n, fixedView{r}, nil)
	ready := make(chan struct{})
	m.Start(fixedView{r}, []Pull{{Sync: Sync{P: 1, From: []string{"b", "c"}, Gate: true}, Ready: ready}})
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("gate waited on the unreachable source's retries")
	}
	if !m.Pulling(1) {
		t.Fatal("the retries of the unreachable source are not counted as under way")
	}
}

// Anti-entropy brings a backup's missing session over, clears the partition's flag, and
// reports every backup in sync when nothing failed.
func TestAntiEntropyRepairsAndReportsInSync(t *testing.T) {
	n := threeStores()
	r := mustRing(t, "a", "b", "c")
	p := r.PartitionsOf("a")[0]
	for ; r.Primary(p) != "a"; p++ {
	}
	id := startIn(t, n.stores["a"], r, p)
	var mu sync.Mutex
	insync := map[string]int64{}
	m := newMover(t, "a", n, fixedView{r}, func(name string, since int64) {
		mu.Lock()
		insync[name] = since
		mu.Unlock()
	})
	m.MarkDirty(p)
	if got := m.AntiEntropy(); got == 0 {
		t.Fatal("nothing repaired")
	}
	for _, b := range r.Replicas(p)[1:] {
		if _, ok := n.stores[b].Export(id); !ok {
			t.Errorf("backup %s lacks the session", b)
		}
	}
	if m.Dirty(p) {
		t.Error("flag still set after a clean round")
	}
	if insync["b"] != 7 || insync["c"] != 7 {
		t.Errorf("in sync: %v", insync)
	}
	if m.Repairs() == 0 {
		t.Error("repairs not counted")
	}
}

// A backup that cannot be reached keeps the flag and is not reported in sync.
func TestAntiEntropyKeepsTheFlagOfAnUnreachableBackup(t *testing.T) {
	n := threeStores()
	n.down["b"] = true
	r := mustRing(t, "a", "b", "c")
	var mu sync.Mutex
	insync := map[string]bool{}
	m := newMover(t, "a", n, fixedView{r}, func(name string, _ int64) { mu.Lock(); insync[name] = true; mu.Unlock() })
	for p := 0; p < r.Partitions(); p++ {
		m.MarkDirty(p)
	}
	m.AntiEntropy()
	for p := 0; p < r.Partitions(); p++ {
		if set := r.Replicas(p); set[0] == "a" && m.Dirty(p) != slices.Contains(set, "b") {
			t.Errorf("partition %d (%v): dirty %v", p, set, m.Dirty(p))
		}
	}
	if insync["b"] || !insync["c"] {
		t.Errorf("in sync: %v", insync)
	}
}

// A partition no longer held is pushed to its holders, then dropped; one whose push fails is
// kept for a later pass.
func TestDropPushesBeforeDropping(t *testing.T) {
	n := threeStores()
	before, after := mustRing(t, "a", "b", "c"), mustRing(t, "b", "c")
	p := 0
	for ; !slices.Contains(before.Replicas(p), "a"); p++ {
	}
	id := startIn(t, n.stores["a"], before, p)
	var v View = fixedView{after}
	m := newMover(t, "a", n, v, nil)
	m.NoteHeld(before)
	m.NoteHeld(after)
	n.down["b"], n.down["c"] = true, true
	time.Sleep(2 * time.Millisecond) // DropAfter is 1ms
	m.DropUnheld()
	if _, ok := n.stores["a"].Export(id); !ok {
		t.Fatal("dropped a copy whose push failed")
	}
	n.down["b"], n.down["c"] = false, false
	time.Sleep(2 * time.Millisecond)
	m.DropUnheld()
	if _, ok := n.stores["a"].Export(id); ok {
		t.Fatal("copy kept after its push")
	}
	for _, h := range after.Replicas(p) {
		if _, ok := n.stores[h].Export(id); !ok {
			t.Errorf("holder %s did not get the copy", h)
		}
	}
}

// Hand-off pushes a lost partition to its new primary.
func TestHandOffPushesToTheNewPrimary(t *testing.T) {
	n := threeStores()
	r := mustRing(t, "b", "c")
	id := startIn(t, n.stores["a"], r, 5)
	m := newMover(t, "a", n, fixedView{r}, nil)
	m.HandOff([]int{5})
	to := n.stores[r.Primary(5)]
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := to.Export(id); ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the new primary never got the partition")
}

// Read repair merges what the other members hold of one session, and says when one of them
// could not be asked (its "does not exist" would then be a guess).
func TestReadRepairMergesAndReportsTheUnasked(t *testing.T) {
	n := threeStores()
	r := mustRing(t, "a", "b", "c")
	id := startIn(t, n.stores["b"], r, 4)
	m := newMover(t, "a", n, fixedView{r}, nil)
	applied, complete := m.ReadRepair(context.Background(), fixedView{r}, []string{"a", "b", "c"}, id)
	if !applied || !complete {
		t.Fatalf("applied %v, complete %v", applied, complete)
	}
	if _, ok := n.stores["a"].Export(id); !ok {
		t.Fatal("the session was not merged")
	}
	if m.Repairs() != 1 {
		t.Errorf("%d repairs counted", m.Repairs())
	}
	n.down["c"] = true
	other := startIn(t, n.stores["b"], r, 6)
	n.stores["b"].DropSlot(other.Slot())
	applied, complete = m.ReadRepair(context.Background(), fixedView{r}, []string{"a", "b", "c"}, other)
	if applied || complete {
		t.Fatalf("with c down and nothing anywhere: applied %v, complete %v", applied, complete)
	}
}
