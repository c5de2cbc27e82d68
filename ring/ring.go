// Package ring maps partitions to ordered replica sets (primary first) for one membership
// view. It knows nothing of sessions. A Ring is immutable: build a new one per membership
// change and swap it.
//
// Primaries come from a bounded-load consistent-hash ring (buraksezer/consistent). Backups do
// not: consistent's GetClosestN walks member hashes, so every primary would get the same
// backups for all its partitions, and after a primary dies its successor often holds no copy.
// Instead each partition ranks the other members by rendezvous hashing of (partition, member):
// backups spread evenly, and removing a member changes only the sets that contained it.
package ring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
)

// MaxPartitions is the most partitions a ring may have: session ids carry a slot 0..3843 and a
// partition is slot % Partitions.
const MaxPartitions = 3844

// Config shapes a ring. Zero fields take the defaults.
type Config struct {
	// Partitions is the number of partitions, 1..MaxPartitions. Default 256.
	Partitions int
	// Replicas is the number of copies of each partition, primary included, capped at the
	// member count. Default 3.
	Replicas int
	// Load is consistent's bounded-load factor: no member is primary for more than Load times
	// the average. Default 1.25.
	Load float64
}

// Ring is one view's partition table.
type Ring struct {
	cfg     Config
	members []string
	sets    [][]string // per partition, primary first
	version uint64
}

type member string

func (m member) String() string { return string(m) }

type hasher struct{}

func (hasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

// New computes the table for members (stable node names).
func New(cfg Config, members []string) (*Ring, error) {
	if cfg.Partitions == 0 {
		cfg.Partitions = 256
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 3
	}
	if cfg.Load == 0 {
		cfg.Load = 1.25
	}
	switch {
	case cfg.Partitions < 1 || cfg.Partitions > MaxPartitions:
		return nil, fmt.Errorf("ring: partitions must be 1..%d, not %d", MaxPartitions, cfg.Partitions)
	case cfg.Replicas < 1:
		return nil, fmt.Errorf("ring: replicas must be at least 1, not %d", cfg.Replicas)
	case cfg.Load <= 1:
		return nil, fmt.Errorf("ring: load must exceed 1, not %v", cfg.Load)
	case len(members) == 0:
		return nil, errors.New("ring: no members")
	}
	sorted := slices.Clone(members)
	slices.Sort(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return nil, fmt.Errorf("ring: duplicate member %q", sorted[i])
		}
	}
	ms := make([]consistent.Member, len(sorted))
	for i, m := range sorted {
		ms[i] = member(m)
	}
	// One New with every member distributes the partitions once; Add would redo it per member.
	c := consistent.New(ms, consistent.Config{
		PartitionCount:    cfg.Partitions,
		ReplicationFactor: 40, // virtual nodes per member, not copies
		Load:              cfg.Load,
		Hasher:            hasher{},
	})
	n := min(cfg.Replicas, len(sorted))
	r := &Ring{cfg: cfg, members: sorted, sets: make([][]string, cfg.Partitions)}
	scores := make([]uint64, len(sorted))
	order := make([]int, len(sorted))
	for p := range r.sets {
		primary := c.GetPartitionOwner(p).String()
		for i, m := range sorted {
			scores[i] = rendezvous(p, m)
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int {
			switch {
			case scores[a] > scores[b]:
				return -1
			case scores[a] < scores[b]:
				return 1
			}
			return 0
		})
		set := make([]string, 0, n)
		set = append(set, primary)
		for _, i := range order {
			if len(set) == n {
				break
			}
			if sorted[i] != primary {
				set = append(set, sorted[i])
			}
		}
		r.sets[p] = set
	}
	h := xxhash.New()
	fmt.Fprintf(h, "%d/%d/%v/", cfg.Partitions, cfg.Replicas, cfg.Load)
	for _, m := range sorted {
		h.WriteString(strconv.Itoa(len(m)))
		h.WriteString(m)
	}
	r.version = h.Sum64()
	return r, nil
}

func rendezvous(p int, m string) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(p))
	h := xxhash.New()
	h.Write(b[:])
	h.WriteString(m)
	return h.Sum64()
}

// Partitions is the partition count.
func (r *Ring) Partitions() int { return r.cfg.Partitions }

// PartitionOfSlot maps a session slot to its partition.
func (r *Ring) PartitionOfSlot(slot int) int { return slot % r.cfg.Partitions }

// Replicas is partition p's replica set, primary first. The slice is shared: do not modify it.
func (r *Ring) Replicas(p int) []string { return r.sets[p] }

// Primary is partition p's primary.
func (r *Ring) Primary(p int) string { return r.sets[p][0] }

// Members lists the members, sorted.
func (r *Ring) Members() []string { return slices.Clone(r.members) }

// Holds reports whether member is one of p's replicas, and its rank (0 = primary).
func (r *Ring) Holds(member string, p int) (bool, int) {
	i := slices.Index(r.sets[p], member)
	return i >= 0, i
}

// PartitionsOf lists the partitions member is a replica of.
func (r *Ring) PartitionsOf(member string) []int {
	var out []int
	for p, set := range r.sets {
		if slices.Contains(set, member) {
			out = append(out, p)
		}
	}
	return out
}

// Version identifies the inputs: equal for equal members and configuration.
func (r *Ring) Version() uint64 { return r.version }

// Move is a partition whose replica set differs between two views.
type Move struct {
	Partition int
	Old, New  []string
}

// Diff lists the partitions whose replica sets differ; old may be nil (everything moves).
func Diff(old, new *Ring) []Move {
	var out []Move
	for p := range new.sets {
		var o []string
		if old != nil && p < len(old.sets) {
			o = old.sets[p]
		}
		if !slices.Equal(o, new.sets[p]) {
			out = append(out, Move{Partition: p, Old: o, New: new.sets[p]})
		}
	}
	return out
}
