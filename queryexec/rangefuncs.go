package queryexec

import (
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/parser/posrange"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// window is one step's view of a range function's input series.
type window struct {
	t          []int64
	f          []float64
	rangeStart int64 // exclusive
	rangeEnd   int64 // inclusive
	rangeMs    int64
	ts         int64 // evaluation time of the step
	args       []float64
	lookback   int64
	anchored   bool
	smoothed   bool
	scratch    []float64 // reused by the functions that sort a copy of f
}

type rangeFunc struct {
	fn       func(a *annotations.Annotations, e *parser.Call, w *window) (float64, bool, error)
	keepName bool
}

var rangeFuncs map[string]rangeFunc

func init() {
	rangeFuncs = map[string]rangeFunc{
		"rate": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			f, ok := extrapolatedRate(w, true, true)
			return f, ok, nil
		}},
		"increase": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			f, ok := extrapolatedRate(w, true, false)
			return f, ok, nil
		}},
		"delta": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			f, ok := extrapolatedRate(w, false, false)
			return f, ok, nil
		}},
		"irate": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			f, ok := instantValue(w, true)
			return f, ok, nil
		}},
		"idelta": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			f, ok := instantValue(w, false)
			return f, ok, nil
		}},
		"resets":  {fn: fnResets},
		"changes": {fn: fnChanges},
		"deriv": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			if len(w.t) < 2 {
				return 0, false, nil
			}
			slope, _ := linearRegression(w.t, w.f, w.t[0])
			return slope, true, nil
		}},
		"predict_linear": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			if len(w.t) < 2 {
				return 0, false, nil
			}
			slope, icpt := linearRegression(w.t, w.f, w.ts)
			return slope*w.args[0] + icpt, true, nil
		}},
		"double_exponential_smoothing": {fn: fnDoubleExpSmoothing},
		"integral":                     {fn: fnIntegral},
		"avg_over_time":                {fn: fnAvgOverTime},
		"sum_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			var sum, c float64
			for _, f := range w.f {
				sum, c = kahanInc(f, sum, c)
			}
			if math.IsInf(sum, 0) {
				return sum, true, nil
			}
			return sum + c, true, nil
		}},
		"count_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			return float64(len(w.f)), true, nil
		}},
		"present_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			return 1, true, nil
		}},
		"absent_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			return 1, true, nil
		}},
		"max_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			v, _ := compareOverTime(w, func(cur, m float64) bool { return cur > m || math.IsNaN(m) })
			return v, true, nil
		}},
		"min_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			v, _ := compareOverTime(w, func(cur, m float64) bool { return cur < m || math.IsNaN(m) })
			return v, true, nil
		}},
		"ts_of_max_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			_, t := compareOverTime(w, func(cur, m float64) bool { return cur >= m || math.IsNaN(m) })
			return float64(t) / 1000, true, nil
		}},
		"ts_of_min_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			_, t := compareOverTime(w, func(cur, m float64) bool { return cur <= m || math.IsNaN(m) })
			return float64(t) / 1000, true, nil
		}},
		"ts_of_first_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			return float64(w.t[0]) / 1000, true, nil
		}},
		"ts_of_last_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			return float64(w.t[len(w.t)-1]) / 1000, true, nil
		}},
		"last_over_time": {keepName: true, fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			return w.f[len(w.f)-1], true, nil
		}},
		"first_over_time": {keepName: true, fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			return w.f[0], true, nil
		}},
		"quantile_over_time": {fn: func(a *annotations.Annotations, e *parser.Call, w *window) (float64, bool, error) {
			q := w.args[0]
			if math.IsNaN(q) || q < 0 || q > 1 {
				a.Add(annotations.NewInvalidQuantileWarning(q, e.Args[0].PositionRange()))
			}
			vals := append(w.scratch[:0], w.f...)
			w.scratch = vals
			return quantile(q, vals), true, nil
		}},
		"mad_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			vals := w.scratch[:0]
			for _, f := range w.f {
				if math.IsNaN(f) {
					return math.NaN(), true, nil
				}
				vals = append(vals, f)
			}
			w.scratch = vals
			med := quantile(0.5, vals)
			for i := range vals {
				vals[i] = math.Abs(vals[i] - med)
			}
			return quantile(0.5, vals), true, nil
		}},
		"stddev_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			return math.Sqrt(varianceOverTime(w.f)), true, nil
		}},
		"stdvar_over_time": {fn: func(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
			return varianceOverTime(w.f), true, nil
		}},
	}
}

var (
	anchoredSafe = []string{"changes", "delta", "increase", "rate", "resets"}
	smoothedSafe = []string{"delta", "increase", "rate"}
)

func compareOverTime(w *window, better func(cur, m float64) bool) (float64, int64) {
	m, t := w.f[0], w.t[0]
	for i, f := range w.f {
		if better(f, m) {
			m, t = f, w.t[i]
		}
	}
	return m, t
}

func varianceOverTime(fs []float64) float64 {
	var count, mean, cMean, aux, cAux float64
	for _, f := range fs {
		count++
		delta := f - (mean + cMean)
		mean, cMean = kahanInc(delta/count, mean, cMean)
		aux, cAux = kahanInc(delta*(f-(mean+cMean)), aux, cAux)
	}
	return (aux + cAux) / count
}

func fnAvgOverTime(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
	sum, count := w.f[0], 1.0
	var mean, c float64
	incr := false
	for i, f := range w.f[1:] {
		count = float64(i + 2)
		if !incr {
			ns, nc := kahanInc(f, sum, c)
			if !math.IsInf(ns, 0) {
				sum, c = ns, nc
				continue
			}
			incr = true
			mean = sum / (count - 1)
			c /= count - 1
		}
		q := (count - 1) / count
		mean, c = kahanInc(f/count, q*mean, q*c)
	}
	if incr {
		return mean + c, true, nil
	}
	return sum/count + c/count, true, nil
}

func fnDoubleExpSmoothing(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
	sf, tf := w.args[0], w.args[1]
	if sf <= 0 || sf >= 1 {
		return 0, false, errorf("invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sf)
	}
	if tf <= 0 || tf >= 1 {
		return 0, false, errorf("invalid trend factor. Expected: 0 < tf < 1, got: %f", tf)
	}
	l := len(w.f)
	if l < 2 {
		return 0, false, nil
	}
	var s0, s1, b float64
	s1 = w.f[0]
	b = w.f[1] - w.f[0]
	for i := 1; i < l; i++ {
		x := sf * w.f[i]
		if i-1 != 0 {
			b = tf*(s1-s0) + (1-tf)*b
		}
		y := (1 - sf) * (s1 + b)
		s0, s1 = s1, x+y
	}
	return s1, true, nil
}

func linearRegression(ts []int64, fs []float64, intercept int64) (slope, icpt float64) {
	var n, sumX, cX, sumY, cY, sumXY, cXY, sumX2, cX2 float64
	initY := fs[0]
	constY := true
	for i := range ts {
		if constY && i > 0 && fs[i] != initY {
			constY = false
		}
		n++
		x := float64(ts[i]-intercept) / 1e3
		sumX, cX = kahanInc(x, sumX, cX)
		sumY, cY = kahanInc(fs[i], sumY, cY)
		sumXY, cXY = kahanInc(x*fs[i], sumXY, cXY)
		sumX2, cX2 = kahanInc(x*x, sumX2, cX2)
	}
	if constY {
		if math.IsInf(initY, 0) {
			return math.NaN(), math.NaN()
		}
		return 0, initY
	}
	sumX += cX
	sumY += cY
	sumXY += cXY
	sumX2 += cX2
	covXY := sumXY - sumX*sumY/n
	varX := sumX2 - sumX*sumX/n
	slope = covXY / varX
	icpt = sumY/n - slope*sumX/n
	return slope, icpt
}

func instantValue(w *window, isRate bool) (float64, bool) {
	n := len(w.t)
	if n < 2 {
		return 0, false
	}
	t0, f0, t1, f1 := w.t[n-2], w.f[n-2], w.t[n-1], w.f[n-1]
	dt := t1 - t0
	if dt == 0 {
		return 0, false
	}
	res := f1
	if !isRate || !(f1 < f0) {
		res = f1 - f0
	}
	if isRate {
		res /= float64(dt) / 1000
	}
	return res, true
}

// firstIndex is where changes/resets start: with anchored, at the last
// sample at or before the range start.
func firstIndex(w *window) (int, bool) {
	if !w.anchored {
		return 0, true
	}
	le := sort.Search(len(w.t), func(i int) bool { return w.t[i] > w.rangeStart }) - 1
	if le+1 >= len(w.t) {
		return 0, false
	}
	if le < 0 {
		return 0, true
	}
	return le, true
}

func fnResets(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
	first, ok := firstIndex(w)
	if !ok {
		return 0, false, nil
	}
	n := 0
	for i := first + 1; i < len(w.f); i++ {
		if w.f[i] < w.f[i-1] {
			n++
		}
	}
	return float64(n), true, nil
}

func fnChanges(_ *annotations.Annotations, _ *parser.Call, w *window) (float64, bool, error) {
	first, ok := firstIndex(w)
	if !ok {
		return 0, false, nil
	}
	n := 0
	for i := first + 1; i < len(w.f); i++ {
		if w.f[i] != w.f[i-1] && !(math.IsNaN(w.f[i]) && math.IsNaN(w.f[i-1])) {
			n++
		}
	}
	return float64(n), true, nil
}

func extrapolatedRate(w *window, isCounter, isRate bool) (float64, bool) {
	if w.anchored || w.smoothed {
		return extendedRate(w, isCounter, isRate)
	}
	return plainRate(w.t, w.f, w.rangeStart, w.rangeEnd, w.rangeMs, isCounter, isRate)
}

// plainRate is extrapolatedRate without the anchored and smoothed
// modifiers over the window (rangeStart, rangeEnd] holding samples ts,
// fs (ms; rangeMs the range). It takes the window as arguments so that the
// per-step loop calls it with slices held in registers, not stored in a
// heap window (a write barrier per step while the GC marks).
func plainRate(ts []int64, fs []float64, rangeStart, rangeEnd, rangeMs int64, isCounter, isRate bool) (float64, bool) {
	n := len(ts)
	if n < 2 || len(fs) != n {
		return 0, false
	}
	res := fs[n-1] - fs[0]
	if isCounter {
		// The resets in order, as Prometheus adds them (bit-exact).
		prev := fs[0]
		for _, x := range fs[1:] {
			if x < prev {
				res += prev
			}
			prev = x
		}
	}
	firstT, lastT := ts[0], ts[n-1]
	durToStart := float64(firstT-rangeStart) / 1000
	durToEnd := float64(rangeEnd-lastT) / 1000
	sampled := float64(lastT-firstT) / 1000
	avg := sampled / float64(n-1)
	thr := avg * 1.1
	if durToStart >= thr {
		durToStart = avg / 2
	}
	if isCounter {
		durToZero := durToStart
		if res > 0 && fs[0] >= 0 {
			durToZero = sampled * (fs[0] / res)
		}
		if durToZero < durToStart {
			durToStart = durToZero
		}
	}
	if durToEnd >= thr {
		durToEnd = avg / 2
	}
	factor := 1.0
	if sampled != 0 {
		factor = (sampled + durToStart + durToEnd) / sampled
	}
	if isRate {
		factor /= float64(rangeMs) / 1000
	}
	return res * factor, true
}

func interpolate(t1 int64, y1 float64, t2 int64, y2 float64, t int64, isCounter bool) float64 {
	if isCounter && y2 < y1 {
		y1 = 0
	}
	return y1 + (y2-y1)*float64(t-t1)/float64(t2-t1)
}

// extendedRate is rate/increase/delta with the anchored or smoothed
// modifier: the window's boundary values are taken (or interpolated) from
// samples around the boundaries.
func extendedRate(w *window, isCounter, isRate bool) (float64, bool) {
	t, f := w.t, w.f
	if len(t) == 0 {
		return 0, false
	}
	last := len(t) - 1
	first := max(0, sort.Search(last, func(i int) bool { return t[i] > w.rangeStart })-1)
	if w.smoothed {
		last = sort.Search(last, func(i int) bool { return t[i] >= w.rangeEnd })
	}
	if t[last] <= w.rangeStart {
		return 0, false
	}
	if w.smoothed && t[first] > w.rangeEnd {
		return 0, false
	}
	var left float64
	switch {
	case t[first] >= w.rangeStart:
		left = f[first]
	case w.smoothed:
		left = interpolate(t[first], f[first], t[first+1], f[first+1], w.rangeStart, isCounter)
	default:
		left = f[first]
	}
	var right float64
	switch {
	case t[last] <= w.rangeEnd || last == 0:
		right = f[last]
	case w.smoothed:
		right = interpolate(t[last-1], f[last-1], t[last], f[last], w.rangeEnd, isCounter)
	default:
		right = f[last-1]
	}
	res := right - left
	if isCounter {
		if t[first] <= w.rangeStart {
			first++
		}
		if t[last] >= w.rangeEnd {
			last--
		}
		var corr float64
		prev := left
		for i := first; i <= last; i++ {
			if f[i] < prev {
				corr += prev
			}
			prev = f[i]
		}
		if right < prev {
			corr += prev
		}
		res += corr
	}
	if isRate {
		res /= float64(w.rangeMs) / 1000
	}
	return res, true
}

// forceMaterialized makes selectors read whole series into memory, the
// simple path the streaming one is tested against.
var forceMaterialized = false

// matrixSource describes where a range function's windows come from.
type matrixSource struct {
	// sel, when set, is a selector evaluated shard by shard inside the
	// read (pushdown.go), each series through a window buffer, instead of
	// series.
	sel      *shardSelect
	series   []rseries
	rng      int64 // ms
	offset   int64 // ms
	at       *int64
	anchored bool
	smoothed bool
	// fromSubquery: the series came from a subquery (their dropName flags
	// apply).
	fromSubquery bool
}

func (ev *evaluator) matrixArg(a parser.Expr, fn string, g grid) (*matrixSource, error) {
	switch a := unwrapParens(a).(type) {
	case *parser.MatrixSelector:
		vs := a.VectorSelector.(*parser.VectorSelector)
		src := &matrixSource{rng: a.Range.Milliseconds(), offset: vs.OriginalOffset.Milliseconds(), at: vs.Timestamp,
			anchored: vs.Anchored, smoothed: vs.Smoothed}
		first := selectorTime(g.start, vs.Timestamp, vs.OriginalOffset)
		last := selectorTime(g.end, vs.Timestamp, vs.OriginalOffset)
		mint := first - src.rng + 1
		if vs.Anchored || vs.Smoothed {
			mint -= ev.lookback
		}
		if vs.Smoothed {
			last += ev.lookback
		}
		if !forceMaterialized {
			h := &pipeline.SelectHints{Start: first, End: last, Step: g.interval, Range: src.rng, Func: fn}
			if vs.Timestamp != nil {
				h.End, h.Step = h.Start, 0
			}
			if vs.Anchored || vs.Smoothed {
				h.Range += ev.lookback
			}
			if vs.Smoothed {
				h.Ahead = ev.lookback
				h.End -= ev.lookback // last was moved by the lookback above
			}
			src.sel = &shardSelect{ms: vs.LabelMatchers, mint: mint, maxt: last, hints: h}
			return src, nil
		}
		raw, err := ev.selectRaw(vs.LabelMatchers, mint, last, true)
		if err != nil {
			return nil, err
		}
		src.series = raw
		return src, nil
	case *parser.SubqueryExpr:
		raw, err := ev.subqueryRaw(a, g)
		if err != nil {
			return nil, err
		}
		return &matrixSource{series: raw, rng: a.Range.Milliseconds(), offset: a.OriginalOffset.Milliseconds(), at: a.Timestamp, fromSubquery: true}, nil
	}
	return nil, errorf("expected a range vector argument, got %T", a)
}

func (ev *evaluator) evalRangeFunc(e *parser.Call, rf rangeFunc, g grid) (any, error) {
	rw, err := ev.prepareRange(e, rf, g)
	if err != nil {
		return nil, err
	}
	src, name, mi := rw.src, e.Func.Name, rw.mi
	defer ev.releaseRaw(src.series)
	out := &vectorVal{}
	held := 0
	if src.sel != nil {
		res, err := ev.shardedRange(rw)
		if err != nil {
			return nil, err
		}
		out.s = res.out
		held = res.held
	} else {
		var st rangeState
		st.init(rw)
		for _, rs := range src.series {
			if err := ev.checkCtx(); err != nil {
				return nil, err
			}
			vs, ok, err := rw.series(&st, rs, false, &ev.annos)
			if err != nil {
				return nil, err
			}
			if ok {
				out.s = append(out.s, vs)
			}
		}
		held = st.held
	}
	if err := ev.hold(held); err != nil {
		return nil, err
	}
	if name == "absent_over_time" {
		return ev.absentOverTime(e, out, mi, g), nil
	}
	if !ev.delayedNameRemoval {
		if err := checkDuplicates(out, g.n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prepareRange evaluates a range function call's scalar arguments, checks
// its modifiers and prepares its matrix argument.
func (ev *evaluator) prepareRange(e *parser.Call, rf rangeFunc, g grid) (*rangeWork, error) {
	name := e.Func.Name
	mi := -1
	for i, a := range e.Args {
		if a.Type() == parser.ValueTypeMatrix {
			mi = i
			break
		}
	}
	if mi < 0 {
		return nil, errorf("function %s needs a range vector", name)
	}
	var scalars [][]float64
	for i, a := range e.Args {
		if i == mi {
			continue
		}
		s, err := ev.scalarArg(a, g)
		if err != nil {
			return nil, err
		}
		scalars = append(scalars, s)
	}
	if ms, ok := unwrapParens(e.Args[mi]).(*parser.MatrixSelector); ok {
		vs := ms.VectorSelector.(*parser.VectorSelector)
		switch {
		case vs.Anchored && !slices.Contains(anchoredSafe, name):
			return nil, errorf("anchored modifier can only be used with: %s - not with %s", strings.Join(anchoredSafe, ", "), name)
		case vs.Smoothed && !slices.Contains(smoothedSafe, name):
			return nil, errorf("smoothed modifier can only be used with: %s - not with %s", strings.Join(smoothedSafe, ", "), name)
		}
	}
	src, err := ev.matrixArg(e.Args[mi], name, g)
	if err != nil {
		return nil, err
	}
	return &rangeWork{ev: ev, e: e, rf: rf, src: src, scalars: scalars, g: g, mi: mi}, nil
}

func (ev *evaluator) absentOverTime(e *parser.Call, in *vectorVal, mi int, g grid) *vectorVal {
	o := vseries{lset: absentLabels(e.Args[mi]), f: make([]float64, g.n), ok: make([]bool, g.n)}
	for i := range g.n {
		present := false
		for k := range in.s {
			if in.s[k].ok[i] {
				present = true
				break
			}
		}
		if !present {
			o.f[i], o.ok[i] = 1, true
		}
	}
	return &vectorVal{s: compactSeries([]vseries{o})}
}

// subqueryGrid is the inner grid of a subquery evaluated for outer grid g.
func (ev *evaluator) subqueryGrid(e *parser.SubqueryExpr, g grid) grid {
	step := e.Step.Milliseconds()
	if step == 0 {
		step = ev.noStepSubquery
	}
	rng := e.Range.Milliseconds()
	var start, end, offset int64
	if e.Timestamp != nil {
		start, end = *e.Timestamp, *e.Timestamp
	} else {
		start = g.start
		end = g.ts(g.n - 1)
	}
	offset = e.OriginalOffset.Milliseconds()
	s := step * ((start - offset - rng) / step)
	if s <= start-offset-rng {
		s += step
	}
	return newGrid(s, end-offset, step)
}

// subqueryRaw evaluates a subquery's inner expression on its grid and
// returns its points as raw series.
func (ev *evaluator) subqueryRaw(e *parser.SubqueryExpr, g grid) ([]rseries, error) {
	ig := ev.subqueryGrid(e, g)
	if ig.end < ig.start {
		return nil, nil
	}
	v, err := ev.eval(e.Expr, ig)
	if err != nil {
		return nil, err
	}
	var vec *vectorVal
	switch v := v.(type) {
	case *vectorVal:
		vec = v
	case *scalarVal:
		vec = ev.vectorOfScalar(v, ig)
	default:
		return nil, errorf("subquery of %T", v)
	}
	out := make([]rseries, 0, len(vec.s))
	total := 0
	for _, s := range vec.s {
		var rs rseries
		rs.lset, rs.dropName = s.lset, s.dropName
		for i := range ig.n {
			if s.ok[i] {
				rs.t = append(rs.t, ig.ts(i))
				rs.f = append(rs.f, s.f[i])
			}
		}
		if len(rs.t) > 0 {
			total += len(rs.t)
			out = append(out, rs)
		}
	}
	if err := ev.hold(total); err != nil {
		return nil, err
	}
	return out, nil
}

// evalSubquery is a subquery outside a function: an instant query's range
// vector result.
func (ev *evaluator) evalSubquery(e *parser.SubqueryExpr, g grid) (any, error) {
	raw, err := ev.subqueryRaw(e, g)
	if err != nil {
		return nil, err
	}
	// Keep only the points inside the window of the (single) step.
	rt := selectorTime(g.start, e.Timestamp, e.OriginalOffset)
	lo := rt - e.Range.Milliseconds()
	for k := range raw {
		rs := &raw[k]
		i := 0
		for i < len(rs.t) && rs.t[i] <= lo {
			i++
		}
		j := i
		for j < len(rs.t) && rs.t[j] <= rt {
			j++
		}
		rs.t, rs.f = rs.t[i:j], rs.f[i:j]
		if ev.delayedNameRemoval && rs.dropName {
			rs.lset = dropMetadata(rs.lset)
		}
	}
	return &matrixVal{s: raw}, nil
}

// selectInstant evaluates a vector selector; with wantTS it also returns
// each present point's sample timestamp.
func (ev *evaluator) selectInstant(e *parser.VectorSelector, g grid, wantTS bool) (*vectorVal, [][]int64, error) {
	if e.Smoothed {
		v, err := ev.selectSmoothed(e, g)
		return v, nil, err
	}
	if !forceMaterialized {
		return ev.selectInstantStream(e, g, wantTS)
	}
	first := selectorTime(g.start, e.Timestamp, e.OriginalOffset)
	last := selectorTime(g.end, e.Timestamp, e.OriginalOffset)
	raw, err := ev.selectRaw(e.LabelMatchers, first-ev.lookback+1, last, false)
	if err != nil {
		return nil, nil, err
	}
	defer ev.releaseRaw(raw)
	out := &vectorVal{s: make([]vseries, 0, len(raw))}
	var tss [][]int64
	held := 0
	for _, rs := range raw {
		vs := vseries{lset: rs.lset, f: make([]float64, g.n), ok: make([]bool, g.n)}
		var ts []int64
		if wantTS {
			ts = make([]int64, g.n)
		}
		any := false
		j := 0
		for i := range g.n {
			rt := selectorTime(g.ts(i), e.Timestamp, e.OriginalOffset)
			if e.Timestamp != nil {
				j = 0
			}
			for j < len(rs.t) && rs.t[j] <= rt {
				j++
			}
			if j == 0 {
				continue
			}
			t, f := rs.t[j-1], rs.f[j-1]
			if t <= rt-ev.lookback || value.IsStaleNaN(f) {
				continue
			}
			vs.f[i], vs.ok[i] = f, true
			if wantTS {
				ts[i] = t
			}
			any = true
			held++
		}
		if any {
			out.s = append(out.s, vs)
			tss = append(tss, ts)
		}
	}
	if err := ev.hold(held); err != nil {
		return nil, nil, err
	}
	return out, tss, nil
}

// selectSmoothed is a vector selector with the smoothed modifier: the value
// at each step is interpolated between the samples around it (within the
// lookback delta on both sides), staleness ignored.
func (ev *evaluator) selectSmoothed(e *parser.VectorSelector, g grid) (*vectorVal, error) {
	first := selectorTime(g.start, e.Timestamp, e.OriginalOffset)
	last := selectorTime(g.end, e.Timestamp, e.OriginalOffset)
	raw, err := ev.selectRaw(e.LabelMatchers, first-ev.lookback+1, last+ev.lookback, true)
	if err != nil {
		return nil, err
	}
	defer ev.releaseRaw(raw)
	out := &vectorVal{}
	for _, rs := range raw {
		vs := vseries{lset: rs.lset, f: make([]float64, g.n), ok: make([]bool, g.n)}
		any := false
		for i := range g.n {
			dt := selectorTime(g.ts(i), e.Timestamp, e.OriginalOffset)
			lo := sort.Search(len(rs.t), func(k int) bool { return rs.t[k] > dt-ev.lookback })
			hi := sort.Search(len(rs.t), func(k int) bool { return rs.t[k] > dt+ev.lookback })
			t, f := rs.t[lo:hi], rs.f[lo:hi]
			if len(t) == 0 {
				continue
			}
			k := sort.Search(len(t), func(k int) bool { return t[k] >= dt })
			switch {
			case k < len(t) && t[k] == dt:
				vs.f[i] = f[k]
			case k > 0 && k < len(t):
				vs.f[i] = interpolate(t[k-1], f[k-1], t[k], f[k], dt, false)
			case k > 0:
				vs.f[i] = f[k-1]
			default:
				continue
			}
			vs.ok[i] = true
			any = true
		}
		if any {
			out.s = append(out.s, vs)
		}
	}
	return out, nil
}

// extendFloats gives an anchored or smoothed range selector's points in
// (mint, maxt]: the boundary values at mint and maxt and the samples
// strictly inside.
func extendFloats(t []int64, f []float64, mint, maxt int64, smoothed bool) ([]int64, []float64) {
	if len(t) == 0 {
		return nil, nil
	}
	last := len(t) - 1
	first := max(0, sort.Search(last, func(i int) bool { return t[i] > mint })-1)
	if smoothed {
		last = sort.Search(last, func(i int) bool { return t[i] >= maxt })
	}
	if t[last] <= mint {
		return nil, nil
	}
	var left, right float64
	switch {
	case t[first] >= mint:
		left = f[first]
	case smoothed:
		left = interpolate(t[first], f[first], t[first+1], f[first+1], mint, false)
	default:
		left = f[first]
	}
	switch {
	case t[last] <= maxt || last == 0:
		right = f[last]
	case smoothed:
		right = interpolate(t[last-1], f[last-1], t[last], f[last], maxt, false)
	default:
		right = f[last-1]
	}
	if t[first] <= mint {
		first++
	}
	if t[last] >= maxt {
		last--
	}
	ot := []int64{mint}
	of := []float64{left}
	if first <= last {
		ot = append(ot, t[first:last+1]...)
		of = append(of, f[first:last+1]...)
	}
	ot = append(ot, maxt)
	of = append(of, right)
	return ot, of
}

func fnIntegral(an *annotations.Annotations, e *parser.Call, w *window) (float64, bool, error) {
	const (
		leftPoint = iota
		rightPoint
		trapezoidal
	)
	strategy := trapezoidal
	if len(w.args) > 0 {
		a := w.args[0]
		if math.IsNaN(a) || math.IsInf(a, 0) || math.Trunc(a) != a || a < leftPoint || a > trapezoidal {
			an.Add(annotations.NewInvalidIntegralStrategyWarning(a, e.Args[1].PositionRange()))
		} else {
			strategy = int(a)
		}
	}
	nz := func(v float64) float64 {
		if math.IsNaN(v) {
			return 0
		}
		return v
	}
	var sum, c float64
	var prevT int64
	var prevF float64
	for i := range w.t {
		var val, cval float64
		cur, prev := nz(w.f[i]), nz(prevF)
		switch strategy {
		case leftPoint:
			val = prev
		case rightPoint:
			val = cur
		case trapezoidal:
			if prev != 0 || cur != 0 {
				val, cval = kahanInc(cur, prev, 0)
				if math.IsInf(val, 0) && !math.IsInf(cur, 0) && !math.IsInf(prev, 0) {
					val, cval = kahanInc(cur/2, prev/2, 0)
				} else {
					val /= 2
					cval /= 2
				}
			}
		}
		if i > 0 && (val != 0 || cval != 0) {
			dt := float64(w.t[i]-prevT) / 1000
			sum, c = kahanInc(val*dt, sum, c+cval*dt)
		}
		prevT, prevF = w.t[i], w.f[i]
	}
	if math.IsInf(sum, 0) {
		return sum, true, nil
	}
	return sum + c, true, nil
}

// rangeWork is one range-function call's fixed inputs, shared read-only by
// its workers.
type rangeWork struct {
	ev      *evaluator
	e       *parser.Call
	rf      rangeFunc
	src     *matrixSource
	scalars [][]float64
	g       grid
	mi      int
}

// rangeState is one worker's reusable state.
type rangeState struct {
	w    window
	it   *pipeline.SampleIterator
	buf  windowBuf
	held int
	// filled: buf holds every sample of the series up to fillTo (past
	// the current window when filled ahead).
	filled bool
	fillTo int64
	// cur is the series being evaluated (streaming); its windows come
	// from cols when it and the function allow (rangecols.go).
	cur  *pipeline.Series
	cols colWindows
}

// rateKind selects rangeWork.series's direct path for the plain
// extrapolated rates.
type rateKind uint8

const (
	rateNone rateKind = iota
	rateRate
	rateIncrease
	rateDelta
)

// noColWindows turns the in-place column windows off (tests compare).
var noColWindows = false

// fillAhead bounds how far past the current window a series' window
// buffer is filled (ms).
const fillAhead = 2 * 3600 * 1000

func (st *rangeState) init(rw *rangeWork) {
	st.w = window{rangeMs: rw.src.rng, lookback: rw.ev.lookback, anchored: rw.src.anchored, smoothed: rw.src.smoothed, args: make([]float64, len(rw.scalars))}
}

// series evaluates the range function over one series at every step.
func (rw *rangeWork) series(st *rangeState, rs rseries, streaming bool, annos *annotations.Annotations) (vseries, bool, error) {
	ev, e, rf, src, g := rw.ev, rw.e, rw.rf, rw.src, rw.g
	w := &st.w
	vs := vseries{lset: rs.lset}
	drop := !rf.keepName || (src.fromSubquery && rs.dropName)
	lo, hi := 0, 0
	any := false
	// Windows that touch or overlap (step <= range) are filled ahead, up
	// to fillAhead past the current one, so the iterator's Fill runs once
	// per many steps instead of once per step; each step's window is then
	// the buffer's samples up to its end.
	var ahead, lastEnd int64
	useCols := streaming && !noColWindows && st.cur != nil && src.at == nil && !src.anchored && !src.smoothed && colUsable(st.cur)
	rate := rateNone
	if useCols {
		st.cols.reset(st.cur.Chunks())
		if len(rw.scalars) == 0 {
			switch e.Func.Name {
			case "rate":
				rate = rateRate
			case "increase":
				rate = rateIncrease
			case "delta":
				rate = rateDelta
			}
		}
	}
	if streaming {
		st.filled = false
		if src.at == nil && g.n > 1 && g.interval > 0 && g.interval <= src.rng {
			ahead = min(32*g.interval, max(2*src.rng, fillAhead))
			lastEnd = selectorTime(g.ts(g.n-1), src.at, time.Duration(src.offset)*time.Millisecond)
			if src.smoothed {
				lastEnd += ev.lookback
			}
		}
	}
	for i := range g.n {
		rt := selectorTime(g.ts(i), src.at, time.Duration(src.offset)*time.Millisecond)
		start, end := rt-src.rng, rt
		dataStart, dataEnd := start, end
		if src.anchored || src.smoothed {
			dataStart -= ev.lookback
		}
		if src.smoothed {
			dataEnd += ev.lookback
		}
		if useCols && rate != rateNone {
			// rate, increase and delta straight from the column
			// window (plainRate), without the general window.
			wt, wf := st.cols.window(dataStart, dataEnd)
			if len(wt) == 0 {
				continue
			}
			if f, ok := plainRate(wt, wf, start, end, src.rng, rate != rateDelta, rate == rateRate); ok {
				if vs.f == nil {
					vs.f, vs.ok = make([]float64, g.n), make([]bool, g.n)
				}
				vs.f[i], vs.ok[i] = f, true
				any = true
				st.held++
			}
			continue
		}
		if useCols {
			w.t, w.f = st.cols.window(dataStart, dataEnd)
		} else if streaming {
			if src.at == nil || i == 0 {
				st.buf.dropTo(dataStart)
				if !st.filled || dataEnd > st.fillTo {
					to := dataEnd
					if ahead > 0 {
						to = min(dataEnd+ahead, lastEnd)
					}
					from := dataStart + 1
					if st.filled {
						from = max(from, st.fillTo+1)
					}
					st.buf.t, st.buf.f = st.it.Fill(st.buf.t, st.buf.f, from, to, true)
					st.filled, st.fillTo = true, to
				}
			}
			if ahead > 0 {
				w.t, w.f = st.buf.upTo(dataEnd)
			} else {
				w.t, w.f = st.buf.live()
			}
		} else {
			if src.at != nil {
				lo, hi = 0, 0
			}
			for lo < len(rs.t) && rs.t[lo] <= dataStart {
				lo++
			}
			if hi < lo {
				hi = lo
			}
			for hi < len(rs.t) && rs.t[hi] <= dataEnd {
				hi++
			}
			w.t, w.f = rs.t[lo:hi], rs.f[lo:hi]
		}
		if len(w.t) == 0 {
			continue
		}
		w.rangeStart, w.rangeEnd, w.ts = start, end, g.ts(i)
		for k := range rw.scalars {
			w.args[k] = rw.scalars[k][i]
		}
		f, ok, err := rf.fn(annos, e, w)
		if err != nil {
			return vseries{}, false, err
		}
		if ok {
			if vs.f == nil {
				vs.f, vs.ok = make([]float64, g.n), make([]bool, g.n)
			}
			vs.f[i], vs.ok[i] = f, true
			any = true
			st.held++
		}
	}
	if useCols && st.cols.err != nil {
		return vseries{}, false, st.cols.err
	}
	if streaming && !useCols {
		if err := st.it.Err(); err != nil {
			return vseries{}, false, err
		}
		if ev.maxSamples > 0 && int64(st.buf.len()) > ev.maxSamples {
			return vseries{}, false, ErrTooManySamples
		}
	}
	if !any {
		return vseries{}, false, nil
	}
	name := e.Func.Name
	if name == "rate" || name == "increase" {
		if mn := rs.lset.Get(model.MetricNameLabel); mn != "" && !strings.HasSuffix(mn, "_total") && !strings.HasSuffix(mn, "_sum") &&
			!strings.HasSuffix(mn, "_count") && !strings.HasSuffix(mn, "_bucket") {
			// Prometheus reports a subquery argument at position 0
			// (it replaces the argument by an unpositioned selector).
			pos := posrange.PositionRange{}
			if !src.fromSubquery {
				pos = e.Args[rw.mi].PositionRange()
			}
			annos.Add(annotations.NewPossibleNonCounterInfo(mn, pos))
		}
	}
	if drop {
		if ev.delayedNameRemoval {
			vs.dropName = true
		} else {
			vs.lset = dropMetadata(vs.lset)
		}
	}
	return vs, true, nil
}
