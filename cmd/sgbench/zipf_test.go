package main

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestZipfUniformWhenSkewIsZero(t *testing.T) {
	const n, draws = 10, 200_000
	z := newZipf(n, 0)
	r := rand.New(rand.NewPCG(42, 0))
	var counts [n]int
	for range draws {
		counts[z.draw(r)]++
	}
	for k, c := range counts {
		if math.Abs(float64(c)-draws/n) > 0.03*draws/n {
			t.Errorf("index %d drawn %d times, want about %d", k, c, draws/n)
		}
	}
}

func TestZipfFollowsTheLaw(t *testing.T) {
	const n, draws = 100, 400_000
	for _, s := range []float64{0.5, 0.99, 1, 2} {
		z := newZipf(n, s)
		h := 0.0
		for k := 1; k <= n; k++ {
			h += math.Pow(float64(k), -s)
		}
		r := rand.New(rand.NewPCG(7, uint64(s*100)))
		counts := make([]int, n)
		for range draws {
			counts[z.draw(r)]++
		}
		for _, k := range []int{0, 1, 9, 99} {
			want := math.Pow(float64(k+1), -s) / h
			if math.Abs(z.prob(k)-want) > 1e-12 {
				t.Errorf("s=%g: prob(%d) = %g, want %g", s, k, z.prob(k), want)
			}
			got := float64(counts[k]) / draws
			// Five standard deviations of a binomial proportion, plus a little.
			tol := 5*math.Sqrt(want*(1-want)/draws) + 1e-4
			if math.Abs(got-want) > tol {
				t.Errorf("s=%g: index %d drawn with frequency %.5f, want %.5f ± %.5f", s, k, got, want, tol)
			}
		}
	}
}

func TestZipfProbabilitiesSumToOne(t *testing.T) {
	z := newZipf(1000, 1.2)
	sum := 0.0
	for k := range 1000 {
		sum += z.prob(k)
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Fatalf("sum %g", sum)
	}
	r := rand.New(rand.NewPCG(1, 1))
	for range 100_000 {
		if k := z.draw(r); k < 0 || k >= 1000 {
			t.Fatalf("drew %d", k)
		}
	}
}
