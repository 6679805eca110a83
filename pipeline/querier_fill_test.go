package pipeline

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/value"
)

// TestAppendColumns checks the run-wise copy of decoded columns against
// the sample-by-sample loop it replaced, stale markers at the ends, in
// runs and alone included.
func TestAppendColumns(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		n := r.IntN(40)
		dts := make([]int64, n)
		dvs := make([]uint64, n)
		for i := range n {
			dts[i] = int64(i * 15)
			dvs[i] = math.Float64bits(r.Float64())
			if r.IntN(4) == 0 {
				dvs[i] = value.StaleNaN
			}
		}
		for _, drop := range []bool{false, true} {
			pre := r.IntN(3)
			ts0, fs0 := make([]int64, pre), make([]float64, pre)
			wantT, wantF := slices.Clone(ts0), slices.Clone(fs0)
			for i := range n {
				f := math.Float64frombits(dvs[i])
				if drop && value.IsStaleNaN(f) {
					continue
				}
				wantT, wantF = append(wantT, dts[i]), append(wantF, f)
			}
			gotT, gotF := appendColumns(ts0, fs0, dts, dvs, drop)
			if !slices.Equal(gotT, wantT) || len(gotF) != len(wantF) {
				t.Fatalf("iter %d drop %v: timestamps %v, want %v", iter, drop, gotT, wantT)
			}
			for i := range gotF {
				if math.Float64bits(gotF[i]) != math.Float64bits(wantF[i]) {
					t.Fatalf("iter %d drop %v: value %d is %x, want %x", iter, drop, i, math.Float64bits(gotF[i]), math.Float64bits(wantF[i]))
				}
			}
		}
	}
}
