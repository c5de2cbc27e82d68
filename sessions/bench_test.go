package sessions

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkMemoryPerSession measures the heap cost of 1,000,000 sessions, each with an owner
// and two 64-byte payloads. Run with -benchtime=1x: one run builds the whole population.
func BenchmarkMemoryPerSession(b *testing.B) {
	const n = 1_000_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		s := New(Config{})
		data := make([]byte, 64)
		payload := 0
		for j := 0; j < n; j++ {
			owner := []byte(fmt.Sprintf("user-%07d", j))
			id := mustID(b, OwnerSlot(tenantA, owner))
			if _, err := s.Do(&Command{Kind: KindStart, Tenant: tenantA, ID: id, TTL: 3600, Owner: owner}); err != nil {
				b.Fatal(err)
			}
			for _, name := range []string{"profile", "csrftok"} {
				if _, err := s.Do(&Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte(name), Data: data}); err != nil {
					b.Fatal(err)
				}
			}
			payload += len(owner) + 7 + 64 + 7 + 64
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(after.HeapAlloc-before.HeapAlloc) / n
		b.ReportMetric(per, "bytes/session")
		b.ReportMetric(per-float64(payload)/n, "overhead-bytes/session")
		runtime.KeepAlive(s)
	}
}

func benchStore(b *testing.B) (*Store, []ID) {
	s := New(Config{})
	ids := make([]ID, 10000)
	for i := range ids {
		ids[i] = mustID(b, -1)
		s.Do(&Command{Kind: KindStart, Tenant: tenantA, ID: ids[i], TTL: 3600})
		s.Do(&Command{Kind: KindPSet, Tenant: tenantA, ID: ids[i], Name: []byte("user"), Data: make([]byte, 64)})
	}
	return s, ids
}

func BenchmarkStorePGet(b *testing.B) {
	s, ids := benchStore(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		cmd := Command{Kind: KindPGet, Tenant: tenantA, Name: []byte("user")}
		i := 0
		for pb.Next() {
			cmd.ID = ids[i%len(ids)]
			if _, err := s.Do(&cmd); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkStorePSet(b *testing.B) {
	s, ids := benchStore(b)
	data := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		cmd := Command{Kind: KindPSet, Tenant: tenantA, Name: []byte("user"), Data: data}
		i := 0
		for pb.Next() {
			cmd.ID = ids[i%len(ids)]
			if _, err := s.Do(&cmd); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkStoreApply(b *testing.B) {
	src, ids := benchStore(b)
	ops := make([]Op, 0, len(ids))
	for _, id := range ids {
		res, _ := src.Do(&Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("user"), Data: make([]byte, 64)})
		ops = append(ops, res.Ops...)
	}
	dst := New(Config{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst.Apply(&ops[i%len(ops)])
	}
}

func BenchmarkSweep(b *testing.B) {
	s, _ := benchStore(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Sweep(numShards/10, nil)
	}
}

// BenchmarkPartitionDigests is what anti-entropy pays for one partition (its 15 slots, all in
// one shard) over 100,000 sessions: a pass per slot, as before, against one pass for all.
func BenchmarkPartitionDigests(b *testing.B) {
	s := New(Config{})
	for range 100000 {
		id := mustID(b, -1)
		s.Do(&Command{Kind: KindStart, Tenant: tenantA, ID: id, TTL: 3600})
		s.Do(&Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("user"), Data: make([]byte, 64)})
	}
	var slots []int
	for slot := 3; slot < Slots; slot += numShards {
		slots = append(slots, slot)
	}
	b.Run("pass-per-slot", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, slot := range slots {
				s.SlotDigest(slot)
			}
		}
	})
	b.Run("one-pass", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s.SlotDigests(slots)
		}
	})
}
