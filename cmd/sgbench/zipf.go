package main

import (
	"math"
	"math/rand/v2"
	"slices"
)

// zipf draws indexes 0..n-1 with P(k) proportional to 1/(k+1)^s, so index 0 is the hottest
// session. s = 0 is uniform. math/rand's Zipf needs s > 1; real session traffic is usually
// milder (s near 1 or below), so this one inverts a precomputed CDF instead: exact for
// every s >= 0, 8 bytes per session, and O(log n) per draw. It is read-only once built and
// may be shared by workers.
type zipf struct {
	n   int
	cdf []float64 // nil when uniform
}

func newZipf(n int, s float64) *zipf {
	z := &zipf{n: n}
	if s == 0 {
		return z
	}
	z.cdf = make([]float64, n)
	sum := 0.0
	for k := range n {
		sum += math.Pow(float64(k+1), -s)
		z.cdf[k] = sum
	}
	for k := range z.cdf {
		z.cdf[k] /= sum
	}
	z.cdf[n-1] = 1 // no rounding gap above the last entry
	return z
}

// draw returns one index using r.
func (z *zipf) draw(r *rand.Rand) int {
	if z.cdf == nil {
		return r.IntN(z.n)
	}
	i, _ := slices.BinarySearch(z.cdf, r.Float64())
	return i
}

// prob is the exact probability of index k, for tests and reports.
func (z *zipf) prob(k int) float64 {
	if z.cdf == nil {
		return 1 / float64(z.n)
	}
	if k == 0 {
		return z.cdf[0]
	}
	return z.cdf[k] - z.cdf[k-1]
}
