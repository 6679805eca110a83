package queryexec

import (
	"math"
	"slices"
	"sort"
	"strconv"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"
)

// kahanInc adds inc to the compensated sum (sum, c) (Neumaier's variant).
func kahanInc(inc, sum, c float64) (float64, float64) {
	t := sum + inc
	switch {
	case math.IsInf(t, 0):
		c = 0
	case math.Abs(sum) >= math.Abs(inc):
		c += (sum - t) + inc
	default:
		c += (inc - t) + sum
	}
	return t, c
}

func groupingLabels(l labels.Labels, without bool, grouping []string) labels.Labels {
	switch {
	case without:
		b := labels.NewBuilder(l)
		b.Del(grouping...)
		b.Del(metadataLabels...)
		return b.Labels()
	case len(grouping) > 0:
		b := labels.NewBuilder(l)
		b.Keep(grouping...)
		return b.Labels()
	}
	return labels.EmptyLabels()
}

func groupingKey(l labels.Labels, without bool, grouping []string, buf []byte) string {
	if without {
		return string(l.BytesWithoutLabels(buf, grouping...))
	}
	if len(grouping) == 0 {
		return ""
	}
	return string(l.BytesWithLabels(buf, grouping...))
}

// paramValues evaluates an aggregation's numeric parameter over the grid.
func (ev *evaluator) paramValues(p parser.Expr, g grid) ([]float64, error) {
	v, err := ev.eval(p, g)
	if err != nil {
		return nil, err
	}
	s, ok := v.(*scalarVal)
	if !ok {
		return nil, errorf("aggregation parameter is not a scalar")
	}
	return s.f, nil
}

func (ev *evaluator) evalAggregate(e *parser.AggregateExpr, g grid) (any, error) {
	grouping := slices.Clone(e.Grouping)
	if e.Without {
		grouping = append(grouping, metadataLabels...)
	}
	slices.Sort(grouping)
	var params []float64
	var err error
	if e.Param != nil && e.Op != parser.COUNT_VALUES {
		if params, err = ev.paramValues(e.Param, g); err != nil {
			return nil, err
		}
	}
	if e.Op == parser.COUNT_VALUES {
		vl := e.Param.(*parser.StringLiteral)
		if !model.UTF8Validation.IsValidLabelName(vl.Val) {
			return nil, errorf("invalid label name %s", vl)
		}
		if !e.Without {
			grouping = append(grouping, vl.Val)
			slices.Sort(grouping)
		}
	}
	if e.Param == nil {
		if res, ok, err := ev.pushedAggregate(e, grouping, g); ok || err != nil {
			return res, err
		}
	}
	iv, err := ev.evalAggregateInput(e, g)
	if err != nil {
		return nil, err
	}
	in := iv.(*vectorVal)
	switch e.Op {
	case parser.COUNT_VALUES:
		return ev.countValues(e, in, grouping, e.Param.(*parser.StringLiteral).Val, g)
	case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
		return ev.aggregateK(e, in, grouping, params, g)
	}
	if e.Op == parser.QUANTILE {
		mn, mx, nan := minMaxNaN(params)
		if nan {
			ev.annos.Add(annotations.NewInvalidQuantileWarning(math.NaN(), e.Param.PositionRange()))
		}
		if mx > 1 {
			ev.annos.Add(annotations.NewInvalidQuantileWarning(mx, e.Param.PositionRange()))
		}
		if mn < 0 {
			ev.annos.Add(annotations.NewInvalidQuantileWarning(mn, e.Param.PositionRange()))
		}
	}
	// Groups, in order of first appearance.
	idx := map[string]int{}
	seriesGroup := make([]int, len(in.s))
	var out []vseries
	var buf []byte
	for k := range in.s {
		key := groupingKey(in.s[k].lset, e.Without, grouping, buf)
		gi, ok := idx[key]
		if !ok {
			gi = len(out)
			idx[key] = gi
			out = append(out, vseries{lset: groupingLabels(in.s[k].lset, e.Without, grouping), f: make([]float64, g.n), ok: make([]bool, g.n)})
		}
		seriesGroup[k] = gi
	}
	n := g.n
	ng := len(out)
	// Per (group, step) state, flattened group*n+step.
	cnt := make([]float64, ng*n)
	var comp, mean []float64
	var incr []bool
	switch e.Op {
	case parser.SUM, parser.AVG:
		comp = make([]float64, ng*n)
		if e.Op == parser.AVG {
			mean = make([]float64, ng*n)
			incr = make([]bool, ng*n)
		}
	case parser.STDDEV, parser.STDVAR:
		mean = make([]float64, ng*n)
	}
	var qvals [][]float64
	if e.Op == parser.QUANTILE {
		qvals = make([][]float64, ng*n)
	}
	for k := range in.s {
		s := &in.s[k]
		gi := seriesGroup[k]
		o := &out[gi]
		if s.dropName {
			o.dropName = true
		}
		base := gi * n
		for i := range n {
			if !s.ok[i] {
				continue
			}
			f := s.f[i]
			j := base + i
			if !o.ok[i] {
				o.ok[i] = true
				cnt[j] = 1
				switch e.Op {
				case parser.SUM, parser.MIN, parser.MAX:
					o.f[i] = f
				case parser.AVG:
					o.f[i] = f
					mean[j] = f
				case parser.GROUP:
					o.f[i] = 1
				case parser.STDDEV, parser.STDVAR:
					mean[j] = f
					if math.IsNaN(f) || math.IsInf(f, 0) {
						o.f[i] = math.NaN()
					} else {
						o.f[i] = 0
					}
				case parser.QUANTILE:
					qvals[j] = append(qvals[j], f)
				}
				continue
			}
			switch e.Op {
			case parser.SUM:
				o.f[i], comp[j] = kahanInc(f, o.f[i], comp[j])
			case parser.AVG:
				cnt[j]++
				c := cnt[j]
				if !incr[j] {
					nv, nc := kahanInc(f, o.f[i], comp[j])
					if !math.IsInf(nv, 0) {
						o.f[i], comp[j] = nv, nc
						break
					}
					incr[j] = true
					mean[j] = o.f[i] / (c - 1)
					comp[j] /= c - 1
				}
				q := (c - 1) / c
				mean[j], comp[j] = kahanInc(f/c, q*mean[j], q*comp[j])
			case parser.MAX:
				if o.f[i] < f || math.IsNaN(o.f[i]) {
					o.f[i] = f
				}
			case parser.MIN:
				if o.f[i] > f || math.IsNaN(o.f[i]) {
					o.f[i] = f
				}
			case parser.COUNT:
				cnt[j]++
			case parser.STDDEV, parser.STDVAR:
				cnt[j]++
				d := f - mean[j]
				mean[j] += d / cnt[j]
				o.f[i] += d * (f - mean[j])
			case parser.QUANTILE:
				qvals[j] = append(qvals[j], f)
			}
		}
	}
	for gi := range out {
		o := &out[gi]
		for i := range n {
			if !o.ok[i] {
				continue
			}
			j := gi*n + i
			switch e.Op {
			case parser.SUM:
				o.f[i] += comp[j]
			case parser.AVG:
				if incr[j] {
					o.f[i] = mean[j] + comp[j]
				} else {
					o.f[i] = o.f[i]/cnt[j] + comp[j]/cnt[j]
				}
			case parser.COUNT:
				o.f[i] = cnt[j]
			case parser.STDVAR:
				o.f[i] /= cnt[j]
			case parser.STDDEV:
				o.f[i] = math.Sqrt(o.f[i] / cnt[j])
			case parser.QUANTILE:
				o.f[i] = quantile(params[i], qvals[j])
			}
		}
	}
	res := &vectorVal{s: compactSeries(out)}
	return res, nil
}

func minMaxNaN(p []float64) (mn, mx float64, nan bool) {
	mn, mx = math.Inf(1), math.Inf(-1)
	for _, f := range p {
		if math.IsNaN(f) {
			nan = true
			continue
		}
		mn = math.Min(mn, f)
		mx = math.Max(mx, f)
	}
	return mn, mx, nan
}

// quantile is the φ-quantile of values by linear interpolation; it sorts
// values.
func quantile(q float64, values []float64) float64 {
	if len(values) == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	if q < 0 {
		return math.Inf(-1)
	}
	if q > 1 {
		return math.Inf(1)
	}
	sort.Sort(byValue(values))
	n := float64(len(values))
	rank := q * (n - 1)
	lo := math.Max(0, math.Floor(rank))
	hi := math.Min(n-1, lo+1)
	w := rank - math.Floor(rank)
	if w == 0 {
		return values[int(lo)]
	}
	return values[int(lo)]*(1-w) + values[int(hi)]*w
}

// byValue sorts floats ascending with NaN first, as Prometheus orders them.
type byValue []float64

func (s byValue) Len() int      { return len(s) }
func (s byValue) Swap(i, j int) { s[i], s[j] = s[j], s[i] }
func (s byValue) Less(i, j int) bool {
	if math.IsNaN(s[i]) {
		return true
	}
	return s[i] < s[j]
}

func (ev *evaluator) countValues(e *parser.AggregateExpr, in *vectorVal, grouping []string, label string, g grid) (*vectorVal, error) {
	out := &vectorVal{}
	idx := map[string]int{}
	var buf []byte
	for i := range g.n {
		for k := range in.s {
			s := &in.s[k]
			if !s.ok[i] {
				continue
			}
			b := labels.NewBuilder(s.lset)
			b.Set(label, strconv.FormatFloat(s.f[i], 'f', -1, 64))
			m := b.Labels()
			key := groupingKey(m, e.Without, grouping, buf)
			o, ok := idx[key]
			if !ok {
				o = len(out.s)
				idx[key] = o
				out.s = append(out.s, vseries{lset: groupingLabels(m, e.Without, grouping), f: make([]float64, g.n), ok: make([]bool, g.n)})
			}
			out.s[o].ok[i] = true
			out.s[o].f[i]++
		}
	}
	if err := ev.dedupe(out, g); err != nil {
		return nil, err
	}
	return out, nil
}

// kEntry is one candidate of topk/bottomk/limitk.
type kEntry struct {
	s int // input series
	f float64
}

// kPush and kFix0 are container/heap's Push and Fix(h, 0) on a
// []kEntry, without the interface boxing (an allocation per Push): the
// same swaps in the same order, so ties come out as Prometheus's heap
// leaves them. rev orders as kRevHeap (bottomk), else as kHeap.
func kPush(h *[]kEntry, e kEntry, rev bool) {
	*h = append(*h, e)
	kUp(*h, len(*h)-1, rev)
}

func kFix0(h []kEntry, rev bool) {
	if !kDown(h, 0, len(h), rev) {
		kUp(h, 0, rev)
	}
}

func kLess(h []kEntry, i, j int, rev bool) bool {
	if math.IsNaN(h[i].f) {
		return true
	}
	if rev {
		return h[i].f > h[j].f
	}
	return h[i].f < h[j].f
}

func kUp(h []kEntry, j int, rev bool) {
	for {
		i := (j - 1) / 2 // parent
		if i == j || !kLess(h, j, i, rev) {
			break
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func kDown(h []kEntry, i0, n int, rev bool) bool {
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 {
			break
		}
		j := j1
		if j2 := j1 + 1; j2 < n && kLess(h, j2, j1, rev) {
			j = j2
		}
		if !kLess(h, j, i, rev) {
			break
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
	return i > i0
}

type kHeap []kEntry

func (h kHeap) Len() int { return len(h) }
func (h kHeap) Less(i, j int) bool {
	if math.IsNaN(h[i].f) {
		return true
	}
	return h[i].f < h[j].f
}
func (h kHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

type kRevHeap []kEntry

func (h kRevHeap) Len() int { return len(h) }
func (h kRevHeap) Less(i, j int) bool {
	if math.IsNaN(h[i].f) {
		return true
	}
	return h[i].f > h[j].f
}
func (h kRevHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

const (
	maxInt64 = 9223372036854774784
	minInt64 = -9223372036854775808
)

// ratioOffset places a series in [0, 1) by its label hash, for limit_ratio.
func ratioOffset(l labels.Labels) float64 {
	return float64(l.Hash()) / float64(math.MaxUint64)
}

func addRatioSample(r float64, l labels.Labels) bool {
	o := ratioOffset(l)
	return (r >= 0 && o < r) || (r < 0 && o >= 1.0+r)
}

func (ev *evaluator) aggregateK(e *parser.AggregateExpr, in *vectorVal, grouping []string, params []float64, g grid) (*vectorVal, error) {
	mn, mx, nan := minMaxNaN(params)
	switch e.Op {
	case parser.TOPK, parser.BOTTOMK, parser.LIMITK:
		if mx < 1 && !nan {
			return &vectorVal{}, nil
		}
		if nan {
			return nil, errorf("Parameter value is NaN")
		}
		if mn <= minInt64 {
			return nil, errorf("Scalar value %v underflows int64", mn)
		}
		if mx >= maxInt64 {
			return nil, errorf("Scalar value %v overflows int64", mx)
		}
	case parser.LIMIT_RATIO:
		if mx == 0 && mn == 0 && !nan {
			return &vectorVal{}, nil
		}
		if nan {
			return nil, errorf("Ratio value is NaN")
		}
		if mx > 1 {
			ev.annos.Add(annotations.NewInvalidRatioWarning(mx, 1.0, e.Param.PositionRange()))
		}
		if mn < -1 {
			ev.annos.Add(annotations.NewInvalidRatioWarning(mn, -1.0, e.Param.PositionRange()))
		}
	}
	idx := map[string]int{}
	seriesGroup := make([]int, len(in.s))
	var buf []byte
	for k := range in.s {
		key := groupingKey(in.s[k].lset, e.Without, grouping, buf)
		gi, ok := idx[key]
		if !ok {
			gi = len(idx)
			idx[key] = gi
		}
		seriesGroup[k] = gi
	}
	ng := len(idx)
	heaps := make([][]kEntry, ng)
	seen := make([]bool, ng)
	// Output: one series per selected input series, in the order of the
	// instant result (first step).
	outIdx := make([]int, len(in.s))
	for k := range outIdx {
		outIdx[k] = -1
	}
	out := &vectorVal{}
	emit := func(k, i int, f float64) {
		o := outIdx[k]
		if o < 0 {
			o = len(out.s)
			outIdx[k] = o
			out.s = append(out.s, vseries{lset: in.s[k].lset, f: make([]float64, g.n), ok: make([]bool, g.n), dropName: in.s[k].dropName})
		}
		out.s[o].f[i], out.s[o].ok[i] = f, true
	}
	for i := range g.n {
		p := params[i]
		var k int64
		var r float64
		switch e.Op {
		case parser.TOPK, parser.BOTTOMK, parser.LIMITK:
			k = min(int64(p), int64(len(in.s)))
			if k < 1 {
				continue
			}
		case parser.LIMIT_RATIO:
			if p == 0 {
				continue
			}
			r = max(-1, min(1, p))
		}
		clear(seen)
		for gi := range heaps {
			heaps[gi] = heaps[gi][:0]
		}
		for si := range in.s {
			s := &in.s[si]
			if !s.ok[i] {
				continue
			}
			gi := seriesGroup[si]
			ent := kEntry{si, s.f[i]}
			h := &heaps[gi]
			if !seen[gi] {
				seen[gi] = true
				switch e.Op {
				case parser.LIMIT_RATIO:
					if addRatioSample(r, s.lset) {
						kPush(h, ent, false)
					}
				case parser.LIMITK:
					*h = append(*h, ent)
				case parser.TOPK:
					kPush(h, ent, false)
				case parser.BOTTOMK:
					kPush(h, ent, true)
				}
				continue
			}
			switch e.Op {
			case parser.TOPK:
				switch {
				case int64(len(*h)) < k:
					kPush(h, ent, false)
				case (*h)[0].f < ent.f || (math.IsNaN((*h)[0].f) && !math.IsNaN(ent.f)):
					(*h)[0] = ent
					if k > 1 {
						kFix0(*h, false)
					}
				}
			case parser.BOTTOMK:
				switch {
				case int64(len(*h)) < k:
					kPush(h, ent, true)
				case (*h)[0].f > ent.f || (math.IsNaN((*h)[0].f) && !math.IsNaN(ent.f)):
					(*h)[0] = ent
					if k > 1 {
						kFix0(*h, true)
					}
				}
			case parser.LIMITK:
				if int64(len(*h)) < k {
					kPush(h, ent, false)
				}
			case parser.LIMIT_RATIO:
				if addRatioSample(r, s.lset) {
					kPush(h, ent, false)
				}
			}
		}
		// Groups in order of first appearance (the map order of Prometheus
		// is its groups slice, also first appearance).
		for gi := range heaps {
			if !seen[gi] {
				continue
			}
			h := heaps[gi]
			switch e.Op {
			case parser.TOPK:
				if len(h) > 1 {
					sort.Sort(sort.Reverse(kHeap(h)))
				}
			case parser.BOTTOMK:
				if len(h) > 1 {
					sort.Sort(sort.Reverse(kRevHeap(h)))
				}
			}
			for _, ent := range h {
				emit(ent.s, i, ent.f)
			}
		}
	}
	return out, nil
}
