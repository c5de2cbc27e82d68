package sessions

import (
	"fmt"
	"testing"
)

// pupdateSteps is a PUPDATE of n SET steps on n distinct names, as a REST set of an n-key body
// becomes.
func pupdateSteps(n int) []Update {
	ups := make([]Update, n)
	for i := range ups {
		ups[i] = Update{Name: fmt.Appendf(nil, "key-%07d", i), Data: []byte("value")}
	}
	return ups
}

// BenchmarkPUpdateSteps measures one PUPDATE against its number of steps, each on a fresh
// session: the time per op must grow linearly with the steps (ns/step about constant).
func BenchmarkPUpdateSteps(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 40_000} {
		b.Run(fmt.Sprintf("steps=%d", n), func(b *testing.B) {
			s := New(Config{})
			s.maxPayloads, s.maxSteps = n, n // the algorithm's cost, past the caps
			ups := pupdateSteps(n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := mustID(b, -1)
				do(b, s, Command{Kind: KindStart, Tenant: tenantA, ID: id, TTL: 3600})
				do(b, s, Command{Kind: KindPUpdate, Tenant: tenantA, ID: id, Updates: ups})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/step")
		})
	}
}
