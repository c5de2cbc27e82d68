package mover

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiongate/sessiongate/ring"
	"github.com/sessiongate/sessiongate/sessions"
)

// Peers is how a Mover reaches other members, by replication address.
type Peers interface {
	// Pull returns a member's full copy of one slot.
	Pull(ctx context.Context, addr string, slot int) ([]sessions.Op, error)
	// Push sends ops for a member to merge.
	Push(ctx context.Context, addr string, ops []sessions.Op) error
	// Digests returns a member's digests of some slots, in order.
	Digests(ctx context.Context, addr string, slots []uint16) ([]uint64, error)
	// Fetch returns a member's copy of one session and of the ids it was rotated into.
	Fetch(ctx context.Context, addr string, id sessions.ID) ([]sessions.Op, error)
}

// Store is the local copy a Mover fills and reads; *sessions.Store is one.
type Store interface {
	Apply(op *sessions.Op)
	SlotOps(slot int, fn func(op *sessions.Op))
	DropSlot(slot int) int
	SlotDigests(slots []int) []uint64
	ExportChain(id sessions.ID) []sessions.Op
}

// View is the membership view a Mover works in.
type View interface {
	Ring() *ring.Ring
	// Addr is a member's replication address; ok is false for a non-member.
	Addr(member string) (addr string, ok bool)
	// Ready is closed once this node may serve partition p as its primary.
	Ready(p int) <-chan struct{}
}

// Config configures a Mover. Zero durations are not defaulted: the node passes its own.
type Config struct {
	Self string
	// RPCTimeout bounds a pull's first try; later tries and pushes get four times as long.
	RPCTimeout time.Duration
	// HandoffDelay is how long a former primary waits before pushing a lost partition, so
	// that the commands it started as primary have finished.
	HandoffDelay time.Duration
	// DropAfter is how long a copy of a partition no longer held is kept.
	DropAfter time.Duration
	// Current returns the view installed now.
	Current func() View
	// Install is held while a view is installed; a drop holds it too, so that a view that
	// makes this node a holder again pulls after the drop, never before it.
	Install sync.Locker
	// InSync is told, after an anti-entropy round that covered every partition, each backup
	// the round found in sync, with the round's start on Clock.
	InSync func(member string, since int64)
	Clock  func() int64
	Logger *slog.Logger
}

// Mover carries out partition movement for one node. Its background work ends with the
// lifetime context given to New.
type Mover struct {
	cfg   Config
	peers Peers
	store Store
	life  context.Context
	log   *slog.Logger

	// pulling counts, per partition, this node's pulls still under way (as primary or as
	// backup): until they finish, its copy may lack acknowledged writes.
	pulling []atomic.Int32
	// dirty marks partitions whose backups missed a write; anti-entropy clears it.
	dirty      []atomic.Bool
	lastSyncMs atomic.Int64
	repairs    atomic.Uint64

	// unheld records since when this node has not held a partition it once held (under
	// cfg.Install).
	unheld map[int]time.Time
}

// New returns a Mover for a cluster of partitions partitions.
func New(life context.Context, cfg Config, partitions int, peers Peers, store Store) *Mover {
	return &Mover{cfg: cfg, peers: peers, store: store, life: life, log: cfg.Logger,
		pulling: make([]atomic.Int32, partitions), dirty: make([]atomic.Bool, partitions),
		unheld: map[int]time.Time{}}
}

// MarkDirty notes that a backup of partition p missed a write.
func (m *Mover) MarkDirty(p int) { m.dirty[p].Store(true) }

// ClearDirty clears p's flag: its backups are no longer this node's to repair.
func (m *Mover) ClearDirty(p int) { m.dirty[p].Store(false) }

// Dirty reports whether a backup of p missed a write not yet repaired.
func (m *Mover) Dirty(p int) bool { return m.dirty[p].Load() }

// Pulling reports whether this node is still pulling partition p.
func (m *Mover) Pulling(p int) bool { return m.pulling[p].Load() > 0 }

// InProgress is the number of partition pulls under way.
func (m *Mover) InProgress() int64 {
	n := int64(0)
	for i := range m.pulling {
		n += int64(m.pulling[i].Load())
	}
	return n
}

// LastSyncMs is how long the last round of pulls after a view change took.
func (m *Mover) LastSyncMs() int64 { return m.lastSyncMs.Load() }

// Repairs counts slots repaired by anti-entropy and sessions by read repair.
func (m *Mover) Repairs() uint64 { return m.repairs.Load() }

// running reports whether the node's lifetime has not ended.
func (m *Mover) running() bool { return m.life.Err() == nil }

// sleep waits d, and reports false if the node's lifetime ended first.
func (m *Mover) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-m.life.Done():
		return false
	case <-t.C:
		return true
	}
}

// slotsOf lists the slots of partition p.
func slotsOf(partitions, p int) []uint16 {
	var out []uint16
	for s := p; s < sessions.Slots; s += partitions {
		out = append(out, uint16(s))
	}
	return out
}

// intSlots widens slot numbers for the store.
func intSlots(slots []uint16) []int {
	out := make([]int, len(slots))
	for i, s := range slots {
		out[i] = int(s)
	}
	return out
}
