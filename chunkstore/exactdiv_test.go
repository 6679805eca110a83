package chunkstore

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExactDiv: the shift-and-inverse division equals v / g for exact
// multiples, negative, zero and extreme ones included.
func TestExactDiv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gs := []uint64{1, 2, 3, 5, 7, 10, 12, 100, 1000, 1 << 20, 3 << 40, decMaxGCD}
	for range 200 {
		gs = append(gs, 1+rng.Uint64N(decMaxGCD))
	}
	for _, g := range gs {
		d := newExactDiv(g)
		lim := int64(math.MaxInt64 / g)
		qs := []int64{0, 1, -1, lim, -lim}
		for range 100 {
			q := rng.Int64N(lim)
			if rng.IntN(2) == 0 {
				q = -q
			}
			qs = append(qs, q)
		}
		for _, q := range qs {
			v := q * int64(g)
			if got := d.div(v); got != q {
				t.Fatalf("g=%d v=%d: got %d, want %d", g, v, got, q)
			}
		}
	}
	if d := newExactDiv(2); d.div(math.MinInt64) != math.MinInt64/2 {
		t.Fatal("MinInt64 / 2")
	}
}
