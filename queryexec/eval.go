package queryexec

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// The evaluator is step-batched: every node is evaluated once over the whole
// step grid of the query (or of its enclosing subquery) and returns all the
// steps at once. An instant vector is a list of series, each with one value
// slot per step and a presence mask; a range vector is a list of raw series
// (timestamps and values) that range functions slide their windows over.

// grid is the evaluation time grid: steps start, start+interval, ..., end.
type grid struct {
	start, end, interval int64
	n                    int
}

func newGrid(start, end, interval int64) grid {
	n := 1
	if interval > 0 {
		n = int((end-start)/interval) + 1
	}
	return grid{start: start, end: end, interval: interval, n: n}
}

func (g grid) ts(i int) int64 { return g.start + int64(i)*g.interval }

// vseries is one series of an instant vector over the grid.
type vseries struct {
	lset labels.Labels
	f    []float64 // one per step
	ok   []bool    // present at step
	// dropName marks a series whose __name__ is to be removed when delayed
	// name removal applies it (at the end of evaluation).
	dropName bool
}

// rseries is one series of a range vector: raw points.
type rseries struct {
	lset     labels.Labels
	dropName bool
	t        []int64
	f        []float64
}

// vectorVal is an instant vector over the grid.
type vectorVal struct{ s []vseries }

// scalarVal is a scalar over the grid.
type scalarVal struct{ f []float64 }

// stringVal is a string.
type stringVal struct{ s string }

// matrixVal is a range vector: one window per step is taken from it by the
// function consuming it. rng and offsets are those of its selector.
type matrixVal struct {
	s []rseries
}

type evaluator struct {
	ctx      context.Context
	db       *pipeline.DB
	g        grid // the query's grid
	lookback int64
	// queriers opened by selectors, closed at the end of the query.
	queriers []*pipeline.Querier

	maxSamples   int64
	curSamples   int64
	peakSamples  int64
	totalSamples int64

	annos annotations.Annotations
	// delayedNameRemoval applies the __name__ removal of functions and
	// operators at the end (the promql-delayed-name-removal feature).
	delayedNameRemoval bool
	noStepSubquery     int64 // ms
	// workers is the engine-wide pool of extra goroutines (nil: none).
	workers chan struct{}
	// own is the query's own core (capacity 1): pushed-down shard work
	// runs holding it or a workers token (acquireWorker).
	own chan struct{}
	// query start/end for start()/end() in @.
	qstart, qend int64
	// staleOnly: the selector being read feeds count or group, which
	// use no value (evalAggregateInput).
	staleOnly bool
}

func newEvaluator(ctx context.Context, db *pipeline.DB, start, end, interval, lookback int64, maxSamples int) *evaluator {
	return &evaluator{
		ctx: ctx, db: db, g: newGrid(start, end, interval), lookback: lookback,
		maxSamples: int64(maxSamples), qstart: start, qend: end,
		own: make(chan struct{}, 1),
	}
}

func (ev *evaluator) close() {
	for _, q := range ev.queriers {
		q.Close()
	}
	ev.queriers = nil
}

// hold accounts n more samples held; it fails the query past the limit.
func (ev *evaluator) hold(n int) error {
	ev.curSamples += int64(n)
	ev.totalSamples += int64(n)
	if ev.curSamples > ev.peakSamples {
		ev.peakSamples = ev.curSamples
	}
	if ev.curSamples > ev.maxSamples {
		return ErrTooManySamples
	}
	return nil
}

func (ev *evaluator) release(n int) { ev.curSamples -= int64(n) }

// evalErr carries an evaluation error up through panics-free returns.
func (ev *evaluator) checkCtx() error { return ev.ctx.Err() }

// run evaluates the whole query and converts the result.
func (ev *evaluator) run(expr parser.Expr) (*Result, error) {
	if err := ev.preprocess(expr); err != nil {
		return nil, &Error{Kind: KindBadData, Err: err}
	}
	if _, wrap := wrapInvariant(expr); wrap {
		expr = &parser.StepInvariantExpr{Expr: expr}
	}
	v, err := ev.eval(expr, ev.g)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	isRange := ev.g.interval > 0
	switch v := v.(type) {
	case *scalarVal:
		if isRange {
			res.Type = ValueMatrix
			pts := make([]FPoint, ev.g.n)
			for i := range pts {
				pts[i] = FPoint{T: ev.g.ts(i), F: v.f[i]}
			}
			res.Matrix = []Series{{Metric: labels.EmptyLabels(), Floats: pts}}
		} else {
			res.Type = ValueScalar
			res.Scalar = FPoint{T: ev.g.start, F: v.f[0]}
		}
	case *stringVal:
		res.Type = ValueString
		res.String = v.s
		res.Scalar = FPoint{T: ev.g.start}
	case *vectorVal:
		if err := ev.finishNames(v); err != nil {
			return nil, err
		}
		if isRange {
			res.Type = ValueMatrix
			for _, s := range v.s {
				var pts []FPoint
				for i := range ev.g.n {
					if s.ok[i] {
						pts = append(pts, FPoint{T: ev.g.ts(i), F: s.f[i]})
					}
				}
				if len(pts) > 0 {
					res.Matrix = append(res.Matrix, Series{Metric: s.lset, Floats: pts})
				}
			}
			slices.SortFunc(res.Matrix, func(a, b Series) int { return labels.Compare(a.Metric, b.Metric) })
		} else {
			res.Type = ValueVector
			res.Vector = make([]Sample, 0, len(v.s))
			for _, s := range v.s {
				if s.ok[0] {
					res.Vector = append(res.Vector, Sample{Metric: s.lset, T: ev.g.start, F: s.f[0]})
				}
			}
		}
	case *matrixVal:
		res.Type = ValueMatrix
		n := 0
		for _, s := range v.s {
			n += len(s.t)
		}
		all := make([]FPoint, n) // one array for every series' points
		if n > 0 {
			res.Matrix = make([]Series, 0, len(v.s))
		}
		for _, s := range v.s {
			if len(s.t) == 0 {
				continue
			}
			pts := all[:len(s.t):len(s.t)]
			all = all[len(s.t):]
			for i := range s.t {
				pts[i] = FPoint{T: s.t[i], F: s.f[i]}
			}
			res.Matrix = append(res.Matrix, Series{Metric: s.lset, Floats: pts})
		}
		slices.SortFunc(res.Matrix, func(a, b Series) int { return labels.Compare(a.Metric, b.Metric) })
	default:
		return nil, &Error{Kind: KindInternal, Err: fmt.Errorf("unexpected result %T", v)}
	}
	if len(ev.annos) > 0 { // the query's text is formatted only for annotations
		res.Warnings, res.Infos = ev.annos.AsStrings(exprString(expr), 0, 0)
	}
	return res, nil
}

func exprString(e parser.Expr) string { return e.String() }

// finishNames applies delayed __name__ removal and checks the result has no
// two series with one label set at one step.
func (ev *evaluator) finishNames(v *vectorVal) error {
	if !ev.delayedNameRemoval {
		return nil
	}
	changed := false
	for i := range v.s {
		if v.s[i].dropName {
			v.s[i].lset = dropMetadata(v.s[i].lset)
			v.s[i].dropName = false
			changed = true
		}
	}
	if changed {
		return checkDuplicates(v, ev.g.n)
	}
	return nil
}

// errDuplicateLabelset is Prometheus's error for a vector holding two
// series with the same labels at one step.
var errDuplicateLabelset = errorf("vector cannot contain metrics with the same labelset")

// checkDuplicates fails when two series of v with equal labels are present
// at one step; series that never overlap are merged into one.
func checkDuplicates(v *vectorVal, n int) error {
	if len(v.s) < 2 {
		return nil
	}
	idx := make([]int, len(v.s))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return labels.Compare(v.s[a].lset, v.s[b].lset) })
	dup := false
	for k := 1; k < len(idx); k++ {
		if labels.Equal(v.s[idx[k]].lset, v.s[idx[k-1]].lset) {
			dup = true
			break
		}
	}
	if !dup {
		return nil
	}
	out := make([]vseries, 0, len(v.s))
	keep := make([]bool, len(v.s))
	for k := 0; k < len(idx); {
		j := k + 1
		for j < len(idx) && labels.Equal(v.s[idx[j]].lset, v.s[idx[k]].lset) {
			j++
		}
		first := &v.s[idx[k]]
		for m := k + 1; m < j; m++ {
			o := &v.s[idx[m]]
			for i := range n {
				if o.ok[i] {
					if first.ok[i] {
						return errDuplicateLabelset
					}
					first.ok[i], first.f[i] = true, o.f[i]
				}
			}
		}
		keep[idx[k]] = true
		k = j
	}
	for i := range v.s {
		if keep[i] {
			out = append(out, v.s[i])
		}
	}
	v.s = out
	return nil
}

// eval evaluates e over grid g.
func (ev *evaluator) eval(e parser.Expr, g grid) (any, error) {
	if err := ev.checkCtx(); err != nil {
		return nil, err
	}
	switch e := e.(type) {
	case *parser.NumberLiteral:
		return ev.constScalar(e.Val, g), nil
	case *parser.StringLiteral:
		return &stringVal{s: e.Val}, nil
	case *parser.ParenExpr:
		return ev.eval(e.Expr, g)
	case *parser.StepInvariantExpr:
		return ev.evalInvariant(e, g)
	case *parser.UnaryExpr:
		return ev.evalUnary(e, g)
	case *parser.VectorSelector:
		return ev.evalVectorSelector(e, g)
	case *parser.MatrixSelector:
		return ev.evalMatrixSelector(e, g)
	case *parser.SubqueryExpr:
		return ev.evalSubquery(e, g)
	case *parser.BinaryExpr:
		return ev.evalBinary(e, g)
	case *parser.AggregateExpr:
		return ev.evalAggregate(e, g)
	case *parser.Call:
		return ev.evalCall(e, g)
	case *parser.DurationExpr:
		d, err := ev.durationSeconds(e, g)
		if err != nil {
			return nil, err
		}
		return ev.constScalar(d, g), nil
	}
	return nil, &Error{Kind: KindInternal, Err: fmt.Errorf("unhandled expression of type %T", e)}
}

func (ev *evaluator) constScalar(f float64, g grid) *scalarVal {
	s := &scalarVal{f: make([]float64, g.n)}
	for i := range s.f {
		s.f[i] = f
	}
	return s
}

func (ev *evaluator) evalUnary(e *parser.UnaryExpr, g grid) (any, error) {
	v, err := ev.eval(e.Expr, g)
	if err != nil {
		return nil, err
	}
	if e.Op != parser.SUB {
		return v, nil
	}
	switch v := v.(type) {
	case *scalarVal:
		for i := range v.f {
			v.f[i] = -v.f[i]
		}
		return v, nil
	case *vectorVal:
		for k := range v.s {
			for i := range v.s[k].f {
				v.s[k].f[i] = -v.s[k].f[i]
			}
			ev.dropName(&v.s[k])
		}
		if !ev.delayedNameRemoval {
			if err := checkDuplicates(v, g.n); err != nil {
				return nil, err
			}
		}
		return v, nil
	}
	return nil, &Error{Kind: KindInternal, Err: fmt.Errorf("unary minus on %T", v)}
}

// dropName removes __name__ now or marks it for delayed removal.
func (ev *evaluator) dropName(s *vseries) {
	if ev.delayedNameRemoval {
		s.dropName = true
		return
	}
	s.lset = dropMetadata(s.lset)
}

// refTimes returns, for selector modifiers, the reference time of step i:
// the @ time (if any) or the step's time, minus the offset.
func selectorTime(ts int64, at *int64, offset time.Duration) int64 {
	if at != nil {
		ts = *at
	}
	return ts - offset.Milliseconds()
}

// selectRaw reads the series matching ms with samples in [mint, maxt].
// With dropStale, stale markers are left out. The samples of all series
// share one pair of arrays (runs copied from decoded chunks by
// SampleIterator.Fill), not two growing slices per series.
func (ev *evaluator) selectRaw(ms []*labels.Matcher, mint, maxt int64, dropStale bool) ([]rseries, error) {
	q, err := ev.db.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	ev.queriers = append(ev.queriers, q)
	ss, err := q.Select(ev.ctx, ms...)
	if err != nil {
		return nil, err
	}
	out := make([]rseries, 0, ss.Len())
	ends := make([]int, 0, ss.Len())
	est := estimateSamples(ss, mint, maxt)
	ts := make([]int64, 0, est)
	fs := make([]float64, 0, est)
	var it *pipeline.SampleIterator
	for ss.Next() {
		s := ss.At()
		it = s.Iterator(it)
		n := len(ts)
		ts, fs = it.Fill(ts, fs, math.MinInt64, math.MaxInt64, dropStale)
		if err := it.Err(); err != nil {
			return nil, err
		}
		if len(ts) == n {
			continue
		}
		if ev.maxSamples > 0 && int64(len(ts)) > ev.maxSamples {
			return nil, ErrTooManySamples
		}
		out = append(out, rseries{lset: s.Labels()})
		ends = append(ends, len(ts))
	}
	if err := ss.Err(); err != nil {
		return nil, err
	}
	start := 0
	for k := range out {
		e := ends[k]
		out[k].t, out[k].f = ts[start:e:e], fs[start:e:e]
		start = e
	}
	if err := ev.hold(len(ts)); err != nil {
		return nil, err
	}
	return out, nil
}

// estimateSamples estimates the samples of ss in [mint, maxt] from its
// chunks' counts, pro rata of each chunk's overlap with the range.
func estimateSamples(ss *pipeline.SeriesSet, mint, maxt int64) int {
	n := 0.0
	for i := range ss.Len() {
		for _, c := range ss.Series(i).Chunks() {
			lo, hi := max(c.MinT, mint), min(c.MaxT, maxt)
			if hi < lo {
				continue
			}
			frac := 1.0
			if c.MaxT > c.MinT {
				frac = float64(hi-lo) / float64(c.MaxT-c.MinT)
			}
			n += frac*float64(c.NumSamples) + 1
		}
	}
	return int(n)
}

func (ev *evaluator) evalVectorSelector(e *parser.VectorSelector, g grid) (*vectorVal, error) {
	v, _, err := ev.selectInstant(e, g, false)
	return v, err
}

func (ev *evaluator) releaseRaw(raw []rseries) {
	n := 0
	for _, r := range raw {
		n += len(r.t)
	}
	ev.release(n)
}

// evalMatrixSelector reads the samples every step's window needs. Windows
// are taken by the consumer (a range function or the result conversion).
func (ev *evaluator) evalMatrixSelector(e *parser.MatrixSelector, g grid) (*matrixVal, error) {
	vs := e.VectorSelector.(*parser.VectorSelector)
	rt := selectorTime(g.start, vs.Timestamp, vs.OriginalOffset)
	mint, maxt := rt-e.Range.Milliseconds(), rt
	dataMint, dataMaxt := mint, maxt
	if vs.Anchored || vs.Smoothed {
		dataMint -= ev.lookback
	}
	if vs.Smoothed {
		dataMaxt += ev.lookback
	}
	raw, err := ev.selectRaw(vs.LabelMatchers, dataMint+1, dataMaxt, true)
	if err != nil {
		return nil, err
	}
	if vs.Anchored || vs.Smoothed {
		out := raw[:0]
		for _, rs := range raw {
			rs.t, rs.f = extendFloats(rs.t, rs.f, mint, maxt, vs.Smoothed)
			if len(rs.t) > 0 {
				out = append(out, rs)
			}
		}
		raw = out
	}
	return &matrixVal{s: raw}, nil
}

// preprocess resolves start()/end() in @ modifiers and the duration
// expressions of ranges, offsets and steps.
func (ev *evaluator) preprocess(expr parser.Expr) error {
	var err error
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if err != nil {
			return err
		}
		switch n := n.(type) {
		case *parser.VectorSelector:
			ev.resolveAt(&n.Timestamp, n.StartOrEnd)
			if n.OriginalOffsetExpr != nil {
				n.OriginalOffset, err = ev.duration(n.OriginalOffsetExpr, true)
			}
		case *parser.MatrixSelector:
			if n.RangeExpr != nil {
				n.Range, err = ev.duration(n.RangeExpr, false)
			}
		case *parser.SubqueryExpr:
			ev.resolveAt(&n.Timestamp, n.StartOrEnd)
			if n.OriginalOffsetExpr != nil {
				n.OriginalOffset, err = ev.duration(n.OriginalOffsetExpr, true)
			}
			if err == nil && n.StepExpr != nil {
				n.Step, err = ev.duration(n.StepExpr, false)
			}
			if err == nil && n.RangeExpr != nil {
				n.Range, err = ev.duration(n.RangeExpr, false)
			}
		}
		return err
	})
	return err
}

func (ev *evaluator) resolveAt(ts **int64, se parser.ItemType) {
	switch se {
	case parser.START:
		t := ev.qstart
		*ts = &t
	case parser.END:
		t := ev.qend
		*ts = &t
	}
}

// duration evaluates a duration expression to a duration (ms precision).
func (ev *evaluator) duration(e parser.Expr, allowNegative bool) (time.Duration, error) {
	d, err := ev.durationSeconds(e, ev.g)
	if err != nil {
		return 0, err
	}
	pr := e.PositionRange()
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return 0, fmt.Errorf("%d:%d: duration is NaN or infinite", pr.Start, pr.End)
	}
	if d <= 0 && !allowNegative {
		return 0, fmt.Errorf("%d:%d: duration must be greater than 0", pr.Start, pr.End)
	}
	if d > 1<<63/1e9 || d < -(1<<63)/1e9 {
		return 0, fmt.Errorf("%d:%d: duration is out of range", pr.Start, pr.End)
	}
	return time.Duration(d*1000) * time.Millisecond, nil
}

func (ev *evaluator) durationSeconds(e parser.Expr, g grid) (float64, error) {
	switch n := e.(type) {
	case *parser.NumberLiteral:
		return n.Val, nil
	case *parser.ParenExpr:
		return ev.durationSeconds(n.Expr, g)
	case *parser.DurationExpr:
		var lhs, rhs float64
		var err error
		if n.LHS != nil {
			if lhs, err = ev.durationSeconds(n.LHS, g); err != nil {
				return 0, err
			}
		}
		if n.RHS != nil {
			if rhs, err = ev.durationSeconds(n.RHS, g); err != nil {
				return 0, err
			}
		}
		pr := e.PositionRange()
		switch n.Op {
		case parser.STEP:
			return float64(ev.g.interval) / 1000, nil
		case parser.RANGE:
			return float64(ev.qend-ev.qstart) / 1000, nil
		case parser.MIN_OF:
			return math.Min(lhs, rhs), nil
		case parser.MAX_OF:
			return math.Max(lhs, rhs), nil
		case parser.ADD:
			if n.LHS == nil {
				return rhs, nil
			}
			return lhs + rhs, nil
		case parser.SUB:
			if n.LHS == nil {
				return -rhs, nil
			}
			return lhs - rhs, nil
		case parser.MUL:
			return lhs * rhs, nil
		case parser.DIV:
			if rhs == 0 {
				return 0, fmt.Errorf("%d:%d: division by zero", pr.Start, pr.End)
			}
			return lhs / rhs, nil
		case parser.MOD:
			if rhs == 0 {
				return 0, fmt.Errorf("%d:%d: modulo by zero", pr.Start, pr.End)
			}
			return math.Mod(lhs, rhs), nil
		case parser.POW:
			return math.Pow(lhs, rhs), nil
		}
		return 0, fmt.Errorf("unexpected duration expression operator %q", n.Op)
	}
	return 0, fmt.Errorf("unexpected duration expression type %T", e)
}
