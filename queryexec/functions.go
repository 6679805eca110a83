package queryexec

import (
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"
)

func unwrapParens(e parser.Expr) parser.Expr {
	for {
		switch p := e.(type) {
		case *parser.ParenExpr:
			e = p.Expr
		case *parser.StepInvariantExpr:
			e = p.Expr
		default:
			return e
		}
	}
}

func stringArg(e parser.Expr) string {
	return unwrapParens(e).(*parser.StringLiteral).Val
}

// scalarArg evaluates a scalar argument over the grid.
func (ev *evaluator) scalarArg(e parser.Expr, g grid) ([]float64, error) {
	v, err := ev.eval(e, g)
	if err != nil {
		return nil, err
	}
	s, ok := v.(*scalarVal)
	if !ok {
		return nil, errorf("expected a scalar argument, got %T", v)
	}
	return s.f, nil
}

func (ev *evaluator) vectorArg(e parser.Expr, g grid) (*vectorVal, error) {
	v, err := ev.eval(e, g)
	if err != nil {
		return nil, err
	}
	vv, ok := v.(*vectorVal)
	if !ok {
		return nil, errorf("expected an instant vector argument, got %T", v)
	}
	return vv, nil
}

// dropNames marks or removes the metric name of every series (functions
// that change the value).
func (ev *evaluator) dropNames(v *vectorVal) {
	for k := range v.s {
		if ev.delayedNameRemoval {
			v.s[k].dropName = true
		} else {
			v.s[k].lset = dropMetadata(v.s[k].lset)
		}
	}
}

var simpleFuncs = map[string]func(float64) float64{
	"abs":   math.Abs,
	"ceil":  math.Ceil,
	"floor": math.Floor,
	"exp":   math.Exp,
	"sqrt":  math.Sqrt,
	"ln":    math.Log,
	"log2":  math.Log2,
	"log10": math.Log10,
	"sin":   math.Sin,
	"cos":   math.Cos,
	"tan":   math.Tan,
	"asin":  math.Asin,
	"acos":  math.Acos,
	"atan":  math.Atan,
	"sinh":  math.Sinh,
	"cosh":  math.Cosh,
	"tanh":  math.Tanh,
	"asinh": math.Asinh,
	"acosh": math.Acosh,
	"atanh": math.Atanh,
	"rad":   func(f float64) float64 { return f * (math.Pi / 180) },
	"deg":   func(f float64) float64 { return f * (180 / math.Pi) },
	"sgn": func(v float64) float64 {
		switch {
		case v < 0:
			return -1
		case v > 0:
			return 1
		}
		return v
	},
}

var dateFuncs = map[string]func(time.Time) float64{
	"days_in_month": func(t time.Time) float64 {
		return float64(32 - time.Date(t.Year(), t.Month(), 32, 0, 0, 0, 0, time.UTC).Day())
	},
	"day_of_month": func(t time.Time) float64 { return float64(t.Day()) },
	"day_of_week":  func(t time.Time) float64 { return float64(t.Weekday()) },
	"day_of_year":  func(t time.Time) float64 { return float64(t.YearDay()) },
	"hour":         func(t time.Time) float64 { return float64(t.Hour()) },
	"minute":       func(t time.Time) float64 { return float64(t.Minute()) },
	"month":        func(t time.Time) float64 { return float64(t.Month()) },
	"year":         func(t time.Time) float64 { return float64(t.Year()) },
}

func (ev *evaluator) evalCall(e *parser.Call, g grid) (any, error) {
	name := e.Func.Name
	if f, ok := simpleFuncs[name]; ok {
		v, err := ev.vectorArg(e.Args[0], g)
		if err != nil {
			return nil, err
		}
		for k := range v.s {
			s := &v.s[k]
			for i := range s.f {
				if s.ok[i] {
					s.f[i] = f(s.f[i])
				}
			}
		}
		ev.dropNames(v)
		return v, ev.dedupe(v, g)
	}
	if f, ok := dateFuncs[name]; ok {
		if len(e.Args) == 0 {
			s := &scalarVal{f: make([]float64, g.n)}
			for i := range s.f {
				s.f[i] = f(time.Unix(g.ts(i)/1000, 0).UTC())
			}
			return ev.vectorOfScalar(s, g), nil
		}
		v, err := ev.vectorArg(e.Args[0], g)
		if err != nil {
			return nil, err
		}
		for k := range v.s {
			s := &v.s[k]
			for i := range s.f {
				if s.ok[i] {
					s.f[i] = f(time.Unix(int64(s.f[i]), 0).UTC())
				}
			}
		}
		ev.dropNames(v)
		return v, ev.dedupe(v, g)
	}
	if rf, ok := rangeFuncs[name]; ok {
		return ev.evalRangeFunc(e, rf, g)
	}
	switch name {
	case "time":
		s := &scalarVal{f: make([]float64, g.n)}
		for i := range s.f {
			s.f[i] = float64(g.ts(i)) / 1000
		}
		return s, nil
	case "pi":
		return ev.constScalar(math.Pi, g), nil
	case "start":
		return ev.constScalar(float64(ev.qstart)/1000, g), nil
	case "end":
		return ev.constScalar(float64(ev.qend)/1000, g), nil
	case "range":
		return ev.constScalar(float64(ev.qend-ev.qstart)/1000, g), nil
	case "step":
		return ev.constScalar(float64(ev.g.interval)/1000, g), nil
	case "vector":
		s, err := ev.scalarArg(e.Args[0], g)
		if err != nil {
			return nil, err
		}
		return ev.vectorOfScalar(&scalarVal{f: s}, g), nil
	case "scalar":
		v, err := ev.vectorArg(e.Args[0], g)
		if err != nil {
			return nil, err
		}
		out := &scalarVal{f: make([]float64, g.n)}
		for i := range g.n {
			found, val := 0, 0.0
			for k := range v.s {
				if v.s[k].ok[i] {
					found++
					val = v.s[k].f[i]
				}
			}
			if found == 1 {
				out.f[i] = val
			} else {
				out.f[i] = math.NaN()
			}
		}
		return out, nil
	case "timestamp":
		return ev.evalTimestamp(e, g)
	case "absent":
		v, err := ev.vectorArg(e.Args[0], g)
		if err != nil {
			return nil, err
		}
		out := vseries{lset: absentLabels(e.Args[0]), f: make([]float64, g.n), ok: make([]bool, g.n)}
		for i := range g.n {
			present := false
			for k := range v.s {
				if v.s[k].ok[i] {
					present = true
					break
				}
			}
			if !present {
				out.f[i], out.ok[i] = 1, true
			}
		}
		return &vectorVal{s: compactSeries([]vseries{out})}, nil
	case "clamp", "clamp_min", "clamp_max":
		v, err := ev.vectorArg(e.Args[0], g)
		if err != nil {
			return nil, err
		}
		lo, hi := make([]float64, g.n), make([]float64, g.n)
		switch name {
		case "clamp":
			if lo, err = ev.scalarArg(e.Args[1], g); err != nil {
				return nil, err
			}
			if hi, err = ev.scalarArg(e.Args[2], g); err != nil {
				return nil, err
			}
		case "clamp_min":
			if lo, err = ev.scalarArg(e.Args[1], g); err != nil {
				return nil, err
			}
			for i := range hi {
				hi[i] = math.Inf(1)
			}
		case "clamp_max":
			if hi, err = ev.scalarArg(e.Args[1], g); err != nil {
				return nil, err
			}
			for i := range lo {
				lo[i] = math.Inf(-1)
			}
		}
		for k := range v.s {
			s := &v.s[k]
			for i := range s.f {
				if !s.ok[i] {
					continue
				}
				if hi[i] < lo[i] {
					s.ok[i] = false
					continue
				}
				s.f[i] = math.Max(lo[i], math.Min(hi[i], s.f[i]))
			}
		}
		v.s = compactSeries(v.s)
		ev.dropNames(v)
		return v, ev.dedupe(v, g)
	case "round":
		v, err := ev.vectorArg(e.Args[0], g)
		if err != nil {
			return nil, err
		}
		to := ev.constScalar(1, g).f
		if len(e.Args) > 1 {
			if to, err = ev.scalarArg(e.Args[1], g); err != nil {
				return nil, err
			}
		}
		for k := range v.s {
			s := &v.s[k]
			for i := range s.f {
				if s.ok[i] {
					inv := 1.0 / to[i]
					s.f[i] = math.Floor(s.f[i]*inv+0.5) / inv
				}
			}
		}
		ev.dropNames(v)
		return v, ev.dedupe(v, g)
	case "min_of", "max_of":
		a, err := ev.scalarArg(e.Args[0], g)
		if err != nil {
			return nil, err
		}
		b, err := ev.scalarArg(e.Args[1], g)
		if err != nil {
			return nil, err
		}
		for i := range a {
			if name == "min_of" {
				a[i] = math.Min(a[i], b[i])
			} else {
				a[i] = math.Max(a[i], b[i])
			}
		}
		return &scalarVal{f: a}, nil
	case "histogram_quantiles":
		return ev.evalHistogramQuantiles(e, g)
	case "sort", "sort_desc", "sort_by_label", "sort_by_label_desc":
		return ev.evalSort(e, g)
	case "label_replace":
		return ev.evalLabelReplace(e, g)
	case "label_join":
		return ev.evalLabelJoin(e, g)
	case "histogram_quantile":
		return ev.evalHistogramQuantile(e, g)
	case "histogram_fraction":
		return ev.evalHistogramFraction(e, g)
	case "histogram_count", "histogram_sum", "histogram_avg", "histogram_stddev", "histogram_stdvar":
		// Native histograms are not stored: over float series these
		// functions return nothing, as Prometheus does.
		for _, a := range e.Args {
			if a.Type() == parser.ValueTypeVector {
				if _, err := ev.vectorArg(a, g); err != nil {
					return nil, err
				}
			}
		}
		return &vectorVal{}, nil
	}
	return nil, errorf("function %s is not supported", name)
}

func (ev *evaluator) vectorOfScalar(s *scalarVal, g grid) *vectorVal {
	vs := vseries{lset: labels.EmptyLabels(), f: s.f, ok: make([]bool, g.n)}
	for i := range vs.ok {
		vs.ok[i] = true
	}
	return &vectorVal{s: []vseries{vs}}
}

func absentLabels(e parser.Expr) labels.Labels {
	var lm []*labels.Matcher
	switch n := unwrapParens(e).(type) {
	case *parser.VectorSelector:
		lm = n.LabelMatchers
	case *parser.MatrixSelector:
		lm = n.VectorSelector.(*parser.VectorSelector).LabelMatchers
	default:
		return labels.EmptyLabels()
	}
	b := labels.NewBuilder(labels.EmptyLabels())
	has := map[string]bool{}
	for _, m := range lm {
		if m.Name == model.MetricNameLabel || m.Name == "__type__" || m.Name == "__unit__" {
			continue
		}
		if m.Type == labels.MatchEqual && !has[m.Name] {
			b.Set(m.Name, m.Value)
			has[m.Name] = true
		} else {
			b.Del(m.Name)
		}
	}
	return b.Labels()
}

func (ev *evaluator) evalTimestamp(e *parser.Call, g grid) (any, error) {
	arg := e.Args[0]
	for {
		if p, ok := arg.(*parser.ParenExpr); ok {
			arg = p.Expr
			continue
		}
		break
	}
	if vs, ok := arg.(*parser.VectorSelector); ok {
		v, ts, err := ev.selectInstant(vs, g, true)
		if err != nil {
			return nil, err
		}
		for k := range v.s {
			for i := range v.s[k].f {
				v.s[k].f[i] = float64(ts[k][i]) / 1000
			}
		}
		ev.dropNames(v)
		return v, ev.dedupe(v, g)
	}
	v, err := ev.vectorArg(e.Args[0], g)
	if err != nil {
		return nil, err
	}
	for k := range v.s {
		for i := range v.s[k].f {
			v.s[k].f[i] = float64(g.ts(i)) / 1000
		}
	}
	ev.dropNames(v)
	return v, ev.dedupe(v, g)
}

func (ev *evaluator) evalSort(e *parser.Call, g grid) (any, error) {
	v, err := ev.vectorArg(e.Args[0], g)
	if err != nil {
		return nil, err
	}
	if g.start != g.end {
		ev.annos.Add(annotations.NewSortInRangeQueryWarning(e.PositionRange()))
		return v, nil
	}
	switch e.Func.Name {
	case "sort":
		sort.Sort(sort.Reverse(seriesRevHeap(v.s)))
	case "sort_desc":
		sort.Sort(sort.Reverse(seriesHeap(v.s)))
	case "sort_by_label", "sort_by_label_desc":
		var names []string
		for _, a := range e.Args[1:] {
			names = append(names, stringArg(a))
		}
		desc := e.Func.Name == "sort_by_label_desc"
		slices.SortFunc(v.s, func(a, b vseries) int {
			for _, n := range names {
				l1, l2 := a.lset.Get(n), b.lset.Get(n)
				if l1 == l2 {
					continue
				}
				r := 1
				if natLess(l1, l2) {
					r = -1
				}
				if desc {
					r = -r
				}
				return r
			}
			c := labels.Compare(a.lset, b.lset)
			if desc {
				c = -c
			}
			return c
		})
	}
	return v, nil
}

type seriesHeap []vseries

func (s seriesHeap) Len() int      { return len(s) }
func (s seriesHeap) Swap(i, j int) { s[i], s[j] = s[j], s[i] }
func (s seriesHeap) Less(i, j int) bool {
	if math.IsNaN(s[i].f[0]) {
		return true
	}
	return s[i].f[0] < s[j].f[0]
}

type seriesRevHeap []vseries

func (s seriesRevHeap) Len() int      { return len(s) }
func (s seriesRevHeap) Swap(i, j int) { s[i], s[j] = s[j], s[i] }
func (s seriesRevHeap) Less(i, j int) bool {
	if math.IsNaN(s[i].f[0]) {
		return true
	}
	return s[i].f[0] > s[j].f[0]
}

// natLess compares strings in natural order: digit runs by number.
func natLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		switch {
		case da && db:
			na, ra := digitRun(a)
			nb, rb := digitRun(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				return len(ta) < len(tb)
			}
			if ta != tb {
				return ta < tb
			}
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			a, b = ra, rb
		case a[0] != b[0]:
			return a[0] < b[0]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitRun(s string) (string, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func (ev *evaluator) evalLabelReplace(e *parser.Call, g grid) (any, error) {
	dst, repl, src, reStr := stringArg(e.Args[1]), stringArg(e.Args[2]), stringArg(e.Args[3]), stringArg(e.Args[4])
	re, err := regexp.Compile("^(?s:" + reStr + ")$")
	if err != nil {
		return nil, errorf("invalid regular expression in label_replace(): %s", reStr)
	}
	if !model.UTF8Validation.IsValidLabelName(dst) {
		return nil, errorf("invalid destination label name in label_replace(): %s", dst)
	}
	v, err := ev.vectorArg(e.Args[0], g)
	if err != nil {
		return nil, err
	}
	for k := range v.s {
		s := &v.s[k]
		sv := s.lset.Get(src)
		idx := re.FindStringSubmatchIndex(sv)
		if idx == nil {
			continue
		}
		res := re.ExpandString(nil, repl, sv, idx)
		b := labels.NewBuilder(s.lset)
		b.Set(dst, string(res))
		s.lset = b.Labels()
		if dst == model.MetricNameLabel {
			s.dropName = false
		}
	}
	return v, checkDuplicates(v, g.n)
}

func (ev *evaluator) evalLabelJoin(e *parser.Call, g grid) (any, error) {
	dst, sep := stringArg(e.Args[1]), stringArg(e.Args[2])
	var srcs []string
	for _, a := range e.Args[3:] {
		s := stringArg(a)
		if !model.UTF8Validation.IsValidLabelName(s) {
			return nil, errorf("invalid source label name in label_join(): %s", s)
		}
		srcs = append(srcs, s)
	}
	if !model.UTF8Validation.IsValidLabelName(dst) {
		return nil, errorf("invalid destination label name in label_join(): %s", dst)
	}
	v, err := ev.vectorArg(e.Args[0], g)
	if err != nil {
		return nil, err
	}
	vals := make([]string, len(srcs))
	for k := range v.s {
		s := &v.s[k]
		for i, src := range srcs {
			vals[i] = s.lset.Get(src)
		}
		b := labels.NewBuilder(s.lset)
		b.Set(dst, strings.Join(vals, sep))
		s.lset = b.Labels()
		if dst == model.MetricNameLabel {
			s.dropName = false
		}
	}
	return v, checkDuplicates(v, g.n)
}

type bucket struct{ upper, count float64 }

// bucketGroup is one classic histogram: the series of a vector that share
// their labels without le, and their buckets at the step being evaluated.
type bucketGroup struct {
	lset     labels.Labels
	dropName bool
	buckets  []bucket
}

func (ev *evaluator) bucketGroups(v *vectorVal, arg parser.Expr, g grid) ([]*bucketGroup, []int, []float64) {
	var groups []*bucketGroup
	idx := map[string]int{}
	seriesGroup := make([]int, len(v.s))
	uppers := make([]float64, len(v.s))
	var buf []byte
	for k := range v.s {
		s := &v.s[k]
		le := s.lset.Get(model.BucketLabel)
		u, err := strconv.ParseFloat(le, 64)
		if err != nil || math.IsNaN(u) {
			name := ""
			if ev.delayedNameRemoval {
				name = s.lset.Get(model.MetricNameLabel)
			}
			for i := range s.ok {
				if s.ok[i] {
					ev.annos.Add(annotations.NewBadBucketLabelWarning(name, le, arg.PositionRange()))
					break
				}
			}
			seriesGroup[k] = -1
			continue
		}
		uppers[k] = u
		key := string(s.lset.BytesWithoutLabels(buf, model.BucketLabel))
		gi, ok := idx[key]
		if !ok {
			gi = len(groups)
			idx[key] = gi
			b := labels.NewBuilder(s.lset)
			b.Del(model.BucketLabel)
			groups = append(groups, &bucketGroup{lset: b.Labels(), dropName: s.dropName})
		}
		seriesGroup[k] = gi
	}
	return groups, seriesGroup, uppers
}

func (ev *evaluator) evalHistogramQuantile(e *parser.Call, g grid) (any, error) {
	q, err := ev.scalarArg(e.Args[0], g)
	if err != nil {
		return nil, err
	}
	warned := false
	return ev.evalBuckets(e.Args[1], g, func(i int) {
		if !warned && (math.IsNaN(q[i]) || q[i] < 0 || q[i] > 1) {
			ev.annos.Add(annotations.NewInvalidQuantileWarning(q[i], e.Args[0].PositionRange()))
			warned = true
		}
	}, func(i int, bg *bucketGroup) float64 {
		return ev.groupQuantile(q[i], bg, bg.buckets, e.Args[1], g.ts(i))
	})
}

// groupQuantile is bucketQuantile of one group's buckets (sorted in place),
// with the info Prometheus adds when it had to force them monotonic.
func (ev *evaluator) groupQuantile(q float64, bg *bucketGroup, buckets []bucket, arg parser.Expr, t int64) float64 {
	res, forced, minB, maxB, maxDiff := bucketQuantile(q, buckets)
	if forced {
		name := ""
		if ev.delayedNameRemoval {
			name = bg.lset.Get(model.MetricNameLabel)
		}
		ev.annos.Add(annotations.NewHistogramQuantileForcedMonotonicityInfo(name, arg.PositionRange(), t, minB, maxB, maxDiff))
	}
	return res
}

// outLabels are a group's labels in the output: without metadata unless
// name removal is delayed.
func (ev *evaluator) outLabels(bg *bucketGroup) labels.Labels {
	if ev.delayedNameRemoval {
		return bg.lset
	}
	return dropMetadata(bg.lset)
}

// gatherBuckets fills every group's buckets with the series' values at step i.
func gatherBuckets(groups []*bucketGroup, seriesGroup []int, uppers []float64, v *vectorVal, i int) {
	for _, bg := range groups {
		bg.buckets = bg.buckets[:0]
	}
	for k := range v.s {
		if seriesGroup[k] < 0 || !v.s[k].ok[i] {
			continue
		}
		bg := groups[seriesGroup[k]]
		bg.buckets = append(bg.buckets, bucket{uppers[k], v.s[k].f[i]})
	}
}

func (ev *evaluator) evalHistogramFraction(e *parser.Call, g grid) (any, error) {
	lo, err := ev.scalarArg(e.Args[0], g)
	if err != nil {
		return nil, err
	}
	hi, err := ev.scalarArg(e.Args[1], g)
	if err != nil {
		return nil, err
	}
	return ev.evalBuckets(e.Args[2], g, nil, func(i int, bg *bucketGroup) float64 {
		return bucketFraction(lo[i], hi[i], bg.buckets)
	})
}

// evalBuckets evaluates the classic-histogram vector arg and, at every step
// i, gathers each group's buckets and sets the group's output to value(i,
// group) (groups without buckets at a step have no point there). atStep, if
// set, runs first at every step (for per-step annotations).
func (ev *evaluator) evalBuckets(arg parser.Expr, g grid, atStep func(i int), value func(i int, bg *bucketGroup) float64) (any, error) {
	v, err := ev.vectorArg(arg, g)
	if err != nil {
		return nil, err
	}
	groups, seriesGroup, uppers := ev.bucketGroups(v, arg, g)
	out := make([]vseries, len(groups))
	for gi, bg := range groups {
		out[gi] = vseries{lset: ev.outLabels(bg), f: make([]float64, g.n), ok: make([]bool, g.n), dropName: true}
	}
	for i := range g.n {
		if atStep != nil {
			atStep(i)
		}
		gatherBuckets(groups, seriesGroup, uppers, v, i)
		for gi, bg := range groups {
			if len(bg.buckets) == 0 {
				continue
			}
			out[gi].f[i], out[gi].ok[i] = value(i, bg), true
		}
	}
	res := &vectorVal{s: compactSeries(out)}
	return res, ev.dedupe(res, g)
}

func sortBuckets(b []bucket) {
	slices.SortFunc(b, func(x, y bucket) int {
		switch {
		case x.upper < y.upper:
			return -1
		case x.upper > y.upper:
			return 1
		}
		return 0
	})
}

func coalesceBuckets(b []bucket) []bucket {
	last := b[0]
	i := 0
	for _, x := range b[1:] {
		if x.upper == last.upper {
			last.count += x.count
		} else {
			b[i] = last
			last = x
			i++
		}
	}
	b[i] = last
	return b[:i+1]
}

func almostEqualTol(a, b, eps float64) bool {
	const minNormal = 2.2250738585072014e-308
	if math.IsNaN(a) && math.IsNaN(b) {
		return true
	}
	if a == b {
		return true
	}
	absSum := math.Abs(a) + math.Abs(b)
	diff := math.Abs(a - b)
	if a == 0 || b == 0 || absSum < minNormal {
		return diff < eps*minNormal
	}
	return diff/math.Min(absSum, math.MaxFloat64) < eps
}

func monotonic(b []bucket) (forced bool, minB, maxB, maxDiff float64) {
	minB, maxB = math.Inf(1), math.Inf(-1)
	prev := b[0].count
	for i := 1; i < len(b); i++ {
		cur := b[i].count
		if cur == prev {
			continue
		}
		if almostEqualTol(prev, cur, 1e-12) {
			b[i].count = prev
			continue
		}
		if cur < prev {
			b[i].count = prev
			forced = true
			minB = math.Min(minB, b[i].upper)
			maxB = math.Max(maxB, b[i].upper)
			maxDiff = math.Max(maxDiff, prev-cur)
			continue
		}
		prev = cur
	}
	return forced, minB, maxB, maxDiff
}

func bucketQuantile(q float64, b []bucket) (res float64, forced bool, minB, maxB, maxDiff float64) {
	switch {
	case math.IsNaN(q):
		return math.NaN(), false, 0, 0, 0
	case q < 0:
		return math.Inf(-1), false, 0, 0, 0
	case q > 1:
		return math.Inf(1), false, 0, 0, 0
	}
	sortBuckets(b)
	if !math.IsInf(b[len(b)-1].upper, 1) {
		return math.NaN(), false, 0, 0, 0
	}
	b = coalesceBuckets(b)
	forced, minB, maxB, maxDiff = monotonic(b)
	if len(b) < 2 {
		return math.NaN(), forced, minB, maxB, maxDiff
	}
	obs := b[len(b)-1].count
	if obs == 0 {
		return math.NaN(), forced, minB, maxB, maxDiff
	}
	rank := q * obs
	i := sort.Search(len(b)-1, func(i int) bool { return b[i].count >= rank })
	switch {
	case i == len(b)-1:
		res = b[len(b)-2].upper
	case i == 0 && b[0].upper <= 0:
		res = b[0].upper
	default:
		start, end, count := 0.0, b[i].upper, b[i].count
		if i > 0 {
			start = b[i-1].upper
			count -= b[i-1].count
			rank -= b[i-1].count
		}
		res = start + (end-start)*(rank/count)
	}
	return res, forced, minB, maxB, maxDiff
}

func bucketFraction(lower, upper float64, b []bucket) float64 {
	sortBuckets(b)
	if !math.IsInf(b[len(b)-1].upper, 1) {
		return math.NaN()
	}
	b = coalesceBuckets(b)
	count := b[len(b)-1].count
	if count == 0 || math.IsNaN(lower) || math.IsNaN(upper) {
		return math.NaN()
	}
	if lower >= upper {
		return 0
	}
	var rank, lowerRank, upperRank float64
	var lowerSet, upperSet bool
	lowerBound := 0.0
	if b[0].upper <= 0 {
		lowerBound = math.Inf(-1)
	}
	for i, x := range b {
		if i > 0 {
			lowerBound = b[i-1].upper
		}
		upperBound := x.upper
		interp := func(v float64) float64 {
			if lowerBound == math.Inf(-1) {
				return x.count
			}
			return rank + (x.count-rank)*(v-lowerBound)/(upperBound-lowerBound)
		}
		if !lowerSet && lowerBound >= lower {
			lowerRank, lowerSet = rank, true
		}
		if !upperSet && lowerBound >= upper {
			upperRank, upperSet = rank, true
		}
		if lowerSet && upperSet {
			break
		}
		if !lowerSet && lowerBound < lower && upperBound > lower {
			lowerRank, lowerSet = interp(lower), true
		}
		if !upperSet && lowerBound < upper && upperBound > upper {
			upperRank, upperSet = interp(upper), true
		}
		if lowerSet && upperSet {
			break
		}
		rank = x.count
	}
	if !lowerSet || lowerRank > count {
		lowerRank = count
	}
	if !upperSet || upperRank > count {
		upperRank = count
	}
	return (upperRank - lowerRank) / count
}

func (ev *evaluator) evalHistogramQuantiles(e *parser.Call, g grid) (any, error) {
	v, err := ev.vectorArg(e.Args[0], g)
	if err != nil {
		return nil, err
	}
	qlabel := stringArg(e.Args[1])
	var qs [][]float64
	for _, a := range e.Args[2:] {
		q, err := ev.scalarArg(a, g)
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
	}
	for k, q := range qs {
		for i := range q {
			if math.IsNaN(q[i]) || q[i] < 0 || q[i] > 1 {
				ev.annos.Add(annotations.NewInvalidQuantileWarning(q[i], e.Args[2+k].PositionRange()))
				break
			}
		}
	}
	groups, seriesGroup, uppers := ev.bucketGroups(v, e.Args[0], g)
	out := &vectorVal{}
	outIdx := map[string]int{}
	for i := range g.n {
		gatherBuckets(groups, seriesGroup, uppers, v, i)
		for _, q := range qs {
			for _, bg := range groups {
				if len(bg.buckets) == 0 {
					continue
				}
				// A copy: the next quantile reads the same buckets.
				res := ev.groupQuantile(q[i], bg, append([]bucket(nil), bg.buckets...), e.Args[0], g.ts(i))
				b := labels.NewBuilder(ev.outLabels(bg))
				b.Set(qlabel, labels.FormatOpenMetricsFloat(q[i]))
				l := b.Labels()
				key := string(l.Bytes(nil))
				o, ok := outIdx[key]
				if !ok {
					o = len(out.s)
					outIdx[key] = o
					out.s = append(out.s, vseries{lset: l, f: make([]float64, g.n), ok: make([]bool, g.n), dropName: true})
				}
				if out.s[o].ok[i] {
					return nil, errDuplicateLabelset
				}
				out.s[o].f[i], out.s[o].ok[i] = res, true
			}
		}
	}
	return out, nil
}
