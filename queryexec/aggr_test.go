package queryexec

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"testing"
)

// boxedHeap is container/heap's view of a []kEntry, the reference kPush
// and kFix0 must reproduce swap for swap.
type boxedHeap struct {
	h   []kEntry
	rev bool
}

func (b *boxedHeap) Len() int           { return len(b.h) }
func (b *boxedHeap) Less(i, j int) bool { return kLess(b.h, i, j, b.rev) }
func (b *boxedHeap) Swap(i, j int)      { b.h[i], b.h[j] = b.h[j], b.h[i] }
func (b *boxedHeap) Push(x any)         { b.h = append(b.h, x.(kEntry)) }
func (b *boxedHeap) Pop() any {
	x := b.h[len(b.h)-1]
	b.h = b.h[:len(b.h)-1]
	return x
}

// TestKHeap_MatchesContainerHeap: topk/bottomk's heap operations leave
// the entries in container/heap's order, ties and NaN included, so the
// tied series topk keeps are Prometheus's.
func TestKHeap_MatchesContainerHeap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := []float64{0, 1, 1, 2, 3, math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1)}
	for c := range 3000 {
		rev := c%2 == 1
		k := 1 + r.IntN(8)
		var ours []kEntry
		ref := &boxedHeap{rev: rev}
		for s := range 5 + r.IntN(40) {
			e := kEntry{s, vals[r.IntN(len(vals))]}
			if len(ours) < k {
				kPush(&ours, e, rev)
				heap.Push(ref, e)
			} else {
				ours[0], ref.h[0] = e, e
				kFix0(ours, rev)
				heap.Fix(ref, 0)
			}
			for i := range ours {
				if ours[i].s != ref.h[i].s {
					t.Fatalf("case %d: heap differs at %d: %v vs %v", c, i, ours, ref.h)
				}
			}
		}
	}
}
