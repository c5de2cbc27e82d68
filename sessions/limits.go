package sessions

import (
	"strconv"
	"sync/atomic"
)

// Caps on the work and memory one command may cause. Both are far above what an application
// keeps in a session; they exist so that no request can make a node work without bound.
const (
	// MaxPayloads bounds the payload names a session holds: live ones and the deleted ones it
	// still remembers (a deleted payload keeps its name and version, so that an older copy
	// cannot bring it back). A write that would add names past it is refused.
	MaxPayloads = 10_000
	// MaxUpdateSteps bounds the SET and DEL steps of one PUPDATE (a REST set's keys).
	MaxUpdateSteps = 10_000
)

// Memory accounting. "Used memory" is the store's own count, not the Go heap: it is exact
// and deterministic (the same writes give the same figure on every run and every replica),
// where the heap moves with garbage not yet collected. It counts every live session's blob
// (owner, metadata, payloads with their names and versions) plus a fixed cost per session and
// per tombstone; connection buffers and replication queues are not counted.
const (
	// sessionCost is what a live session costs beside its blob: the 112-byte record, its
	// slot and tag in the shard's table, and the blob's allocation rounding.
	// BenchmarkMemoryPerSession measures about 146 bytes beside the blob.
	sessionCost = 150
	// tombstoneCost is one remembered id: its entry in the shard's tombstone map (16-byte id,
	// 8-byte deadline) with the map's slack, and the rotation link some carry.
	tombstoneCost = 64
)

// usage is the store-wide memory count that Do compares with the limit. It is kept only when
// there is a limit: without one, nothing reads it and Stats counts from the shards.
// Invariant (limit > 0): used == Stats().UsedMemory whenever no shard lock is held.
type usage struct {
	limit int64
	used  atomic.Int64
}

func (u *usage) add(delta int64) {
	if u.limit > 0 {
		u.used.Add(delta)
	}
}

// over reports whether used memory is past the limit: writes that grow the store are refused.
func (u *usage) over() bool { return u.limit > 0 && u.used.Load() > u.limit }

// grows reports whether a command may add to the store's memory, and so is refused past
// the limit. Reads, deletes, ends, EXPIRE and IDLE are not: they must keep working (and
// free memory) when the store is full.
func grows(cmd *Command) bool {
	switch cmd.Kind {
	case KindStart, KindPSet, KindRotate:
		return true
	case KindPUpdate:
		for i := range cmd.Updates {
			if !cmd.Updates[i].Delete {
				return true
			}
		}
	}
	return false
}

// countFields counts the encoded fields of a blob, deleted ones included.
func countFields(fields []byte) int {
	it := fieldIter{fields}
	n := 0
	for _, _, _, ok := it.next(); ok; _, _, _, ok = it.next() {
		n++
	}
	return n
}

// MemoryFields are INFO's memory fields for these stats, named as Redis names them.
func (st Stats) MemoryFields() [][2]string {
	return [][2]string{
		{"used_memory", strconv.FormatInt(st.UsedMemory, 10)},
		{"used_memory_human", HumanBytes(st.UsedMemory)},
		{"maxmemory", strconv.FormatInt(st.MaxMemory, 10)},
		{"maxmemory_human", HumanBytes(st.MaxMemory)},
		{"maxmemory_policy", "noeviction"},
	}
}

// HumanBytes formats a byte count as Redis's INFO does: 512B, 1.50K, 100.00M, 2.00G.
func HumanBytes(n int64) string {
	const k = 1024
	switch {
	case n < k:
		return strconv.FormatInt(n, 10) + "B"
	case n < k*k:
		return strconv.FormatFloat(float64(n)/k, 'f', 2, 64) + "K"
	case n < k*k*k:
		return strconv.FormatFloat(float64(n)/(k*k), 'f', 2, 64) + "M"
	case n < k*k*k*k:
		return strconv.FormatFloat(float64(n)/(k*k*k), 'f', 2, 64) + "G"
	}
	return strconv.FormatFloat(float64(n)/(k*k*k*k), 'f', 2, 64) + "T"
}
