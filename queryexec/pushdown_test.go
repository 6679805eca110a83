package queryexec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// TestPartialAggregates_MatchSequentialFold: count, group, min and max
// folded per shard and merged equal, bit for bit and in group order, the
// engine-side fold over all series in label order (Prometheus's), with
// ties, -0 against 0, NaN and missing steps, over random shard
// assignments.
func TestPartialAggregates_MatchSequentialFold(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	vals := []float64{0, math.Copysign(0, -1), 1, 1, -1, 2, math.NaN(), math.Inf(1), math.Inf(-1), 0.5}
	const n = 6
	for round := range 3000 {
		op := []parser.ItemType{parser.COUNT, parser.GROUP, parser.MIN, parser.MAX}[round%4]
		ns := 1 + r.IntN(12)
		shards := 1 + r.IntN(4)
		// Series in label order; group = label g.
		var keys []labels.Labels
		var groups []string
		var f [][]float64
		var ok [][]bool
		for k := range ns {
			keys = append(keys, labels.FromStrings("i", fmt.Sprintf("%03d", k)))
			groups = append(groups, fmt.Sprint(r.IntN(3)))
			fs, oks := make([]float64, n), make([]bool, n)
			for i := range n {
				oks[i] = r.IntN(4) != 0
				fs[i] = vals[r.IntN(len(vals))]
			}
			f, ok = append(f, fs), append(ok, oks)
		}
		// Engine side: the sequential fold.
		wantIdx := map[string]int{}
		var want []*partialGroup
		for k := range ns {
			any := false
			for i := range n {
				any = any || ok[k][i]
			}
			if !any {
				continue
			}
			gi, seen := wantIdx[groups[k]]
			if !seen {
				gi = len(want)
				wantIdx[groups[k]] = gi
				want = append(want, &partialGroup{lset: labels.FromStrings("g", groups[k]), f: make([]float64, n), ok: make([]bool, n), who: make([]int32, n)})
			}
			for i := range n {
				if ok[k][i] {
					want[gi].fold(op, i, f[k][i], int32(k))
				}
			}
		}
		// Shards.
		parts := make([]*shardPartial, shards)
		idx := make([]map[string]*partialGroup, shards)
		for s := range parts {
			parts[s], idx[s] = &shardPartial{}, map[string]*partialGroup{}
		}
		for k := range ns {
			any := false
			for i := range n {
				any = any || ok[k][i]
			}
			if !any {
				continue
			}
			s := r.IntN(shards)
			p := parts[s]
			si := int32(len(p.keys))
			p.keys = append(p.keys, keys[k])
			pg := idx[s][groups[k]]
			if pg == nil {
				pg = &partialGroup{key: groups[k], lset: labels.FromStrings("g", groups[k]), first: keys[k], f: make([]float64, n), ok: make([]bool, n), who: make([]int32, n)}
				idx[s][groups[k]] = pg
				p.groups = append(p.groups, pg)
			}
			for i := range n {
				if ok[k][i] {
					pg.fold(op, i, f[k][i], si)
				}
			}
		}
		got := mergePartials(op, parts, n)
		var wantS []vseries
		for _, w := range want {
			wantS = append(wantS, vseries{lset: w.lset, f: w.f, ok: w.ok})
		}
		wantS = compactSeries(wantS)
		if len(got.s) != len(wantS) {
			t.Fatalf("round %d %s: %d groups, want %d", round, op, len(got.s), len(wantS))
		}
		for gi := range wantS {
			if !labels.Equal(got.s[gi].lset, wantS[gi].lset) {
				t.Fatalf("round %d %s: group %d is %s, want %s", round, op, gi, got.s[gi].lset, wantS[gi].lset)
			}
			for i := range n {
				g, w := got.s[gi].f[i], wantS[gi].f[i]
				if got.s[gi].ok[i] != wantS[gi].ok[i] || (wantS[gi].ok[i] && math.Float64bits(g) != math.Float64bits(w) && !(math.IsNaN(g) && math.IsNaN(w))) {
					t.Fatalf("round %d %s: group %s step %d: %v (%v), want %v (%v)", round, op, wantS[gi].lset, i, g, got.s[gi].ok[i], w, wantS[gi].ok[i])
				}
			}
		}
	}
}
