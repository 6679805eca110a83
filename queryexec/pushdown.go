package queryexec

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// Push-down: a range function over a selector is evaluated inside the
// storage read, shard by shard (pipeline.Querier.SelectShards): each
// shard's series are evaluated over their chunks on that shard's fan-out
// goroutine as soon as the shard is read, while the other shards still
// read, and only the per-series step vectors (or, below an aggregation
// that merges exactly, one partial vector per group) come back to the
// query goroutine. The select carries hints (the step grid and the window)
// so that chunks no window needs are not read at all.
//
// CPU is bounded per query and engine-wide: a shard's evaluation runs only
// while it holds the query's own token (its goroutine's share) or a token
// of the engine's worker pool, so a heavy query uses at most 1 + the
// pool's cores, and ingest keeps the rest.

// shardSelect is a selector to be read shard by shard.
type shardSelect struct {
	ms         []*labels.Matcher
	mint, maxt int64
	hints      *pipeline.SelectHints
}

// shardResult is one shard's evaluated series: out[i] was computed from
// the input series keys[i]; keys are in label order.
type shardResult struct {
	out   []vseries
	keys  []labels.Labels
	annos annotations.Annotations
	held  int
	err   error
}

// acquireWorker blocks until this query may use one more core: its own
// token (free while the query goroutine waits in the fan-in) or one of the
// engine's pool. It returns the release.
func (ev *evaluator) acquireWorker() (func(), error) {
	select {
	case ev.own <- struct{}{}:
		return func() { <-ev.own }, nil
	default:
	}
	select {
	case ev.own <- struct{}{}:
		return func() { <-ev.own }, nil
	case ev.workers <- struct{}{}: // nil pool: never
		return func() { <-ev.workers }, nil
	case <-ev.ctx.Done():
		return nil, ev.ctx.Err()
	}
}

// eachShard selects sel and calls fn with every shard's series set on that
// shard's fan-out goroutine, holding a worker token; a panic in fn (a bug)
// becomes that shard's error instead of ending the process.
func (ev *evaluator) eachShard(sel *shardSelect, fn func(shard int, ss *pipeline.SeriesSet) error) error {
	q, err := ev.db.Querier(sel.mint, sel.maxt)
	if err != nil {
		return err
	}
	ev.queriers = append(ev.queriers, q)
	return q.SelectShards(ev.ctx, sel.hints, func(shard int, ss *pipeline.SeriesSet) (err error) {
		if ss.Len() == 0 {
			return nil
		}
		release, err := ev.acquireWorker()
		if err != nil {
			return err
		}
		defer release()
		defer func() {
			if r := recover(); r != nil {
				err = &Error{Kind: KindInternal, Err: fmt.Errorf("query evaluation panicked: %v", r)}
			}
		}()
		return fn(shard, ss)
	}, sel.ms...)
}

// shardedRange evaluates the range function of rw shard by shard and
// returns every series' result in the label order of the input series
// (the order Prometheus evaluates, and sums, them in).
func (ev *evaluator) shardedRange(rw *rangeWork) (*shardResult, error) {
	var mu sync.Mutex
	var parts []*shardResult
	err := ev.eachShard(rw.src.sel, func(_ int, ss *pipeline.SeriesSet) error {
		r := &shardResult{}
		var st rangeState
		st.init(rw)
		for ss.Next() {
			s := ss.At()
			if r.err = ev.checkCtx(); r.err != nil {
				return r.err
			}
			st.it = s.Iterator(st.it)
			st.buf.reset()
			st.cur = s
			vs, ok, err := rw.series(&st, rseries{lset: s.Labels()}, true, &r.annos)
			if err != nil {
				return err
			}
			if ok {
				r.out = append(r.out, vs)
				r.keys = append(r.keys, s.Labels())
			}
		}
		if err := ss.Err(); err != nil {
			return err
		}
		r.held = st.held
		mu.Lock()
		parts = append(parts, r)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := mergeShardResults(parts)
	ev.annos.Merge(res.annos)
	return res, nil
}

// mergeShardResults merges shard results (each in key order; shards hold
// disjoint series) into one in key order.
func mergeShardResults(parts []*shardResult) *shardResult {
	res := &shardResult{}
	n := 0
	for _, p := range parts {
		n += len(p.out)
		res.held += p.held
		res.annos.Merge(p.annos)
	}
	if len(parts) == 1 {
		res.out, res.keys = parts[0].out, parts[0].keys
		return res
	}
	res.out = make([]vseries, 0, n)
	res.keys = make([]labels.Labels, 0, n)
	idx := make([]int, len(parts))
	for {
		best := -1
		for i, p := range parts {
			if idx[i] >= len(p.keys) {
				continue
			}
			if best < 0 || labels.Compare(p.keys[idx[i]], parts[best].keys[idx[best]]) < 0 {
				best = i
			}
		}
		if best < 0 {
			return res
		}
		p := parts[best]
		res.out = append(res.out, p.out[idx[best]])
		res.keys = append(res.keys, p.keys[idx[best]])
		idx[best]++
	}
}

// Partial aggregates. count, group, min and max of a range function over
// a selector are computed per shard, inside its read, over all the
// shard's series, so each shard ships one partial vector per group
// instead of its series; the partials merge exactly:
//
//   - count adds integer counts, group is 1;
//   - max (min) in Prometheus's order keeps, at each step, the first
//     series (in label order) holding the largest (smallest) non-NaN value
//     (a later equal value, -0 against 0 included, does not replace it),
//     NaN only when every value is NaN. A shard's partial keeps its first
//     such series; merging takes the better value and, on ==, the series
//     first in label order: the same value, bit for bit.
//
// sum and avg are not pushed: Prometheus adds the series one by one in
// label order with Kahan compensation, and a sum of per-shard partial
// Kahan sums rounds differently (in the last bits, but not bit-exact), so
// they aggregate on the query goroutine over the pushed-down range
// function's per-series vectors, merged in label order. topk/bottomk
// are not pushed either: which of tied values survive Prometheus's heap
// depends on the whole input sequence.

// partialGroup is one group's partial aggregate in one shard.
type partialGroup struct {
	key   string        // grouping key
	lset  labels.Labels // output labels
	first labels.Labels // input labels of its first series
	f     []float64
	ok    []bool
	who   []int32 // min/max: index in the shard's keys of the series holding f
}

// shardPartial is one shard's partial aggregate.
type shardPartial struct {
	groups []*partialGroup
	keys   []labels.Labels // input series (label order), for min/max ties
	hashes []uint64        // output label hashes, for the duplicate check
	annos  annotations.Annotations
	held   int
}

// pushedAggregate evaluates e by partial aggregates in the shards when it
// can (ok false: it cannot, nothing was evaluated).
func (ev *evaluator) pushedAggregate(e *parser.AggregateExpr, grouping []string, g grid) (*vectorVal, bool, error) {
	switch e.Op {
	case parser.COUNT, parser.GROUP, parser.MIN, parser.MAX:
	default:
		return nil, false, nil
	}
	if forceMaterialized || ev.delayedNameRemoval {
		return nil, false, nil
	}
	call, ok := unwrapParens(e.Expr).(*parser.Call)
	if !ok {
		return nil, false, nil
	}
	rf, ok := rangeFuncs[call.Func.Name]
	if !ok || call.Func.Name == "absent_over_time" {
		return nil, false, nil
	}
	pushable := false
	for _, a := range call.Args {
		if a.Type() == parser.ValueTypeMatrix {
			_, pushable = unwrapParens(a).(*parser.MatrixSelector)
			break
		}
	}
	if !pushable {
		return nil, false, nil
	}
	rw, err := ev.prepareRange(call, rf, g)
	if err != nil {
		return nil, true, err
	}
	var mu sync.Mutex
	var parts []*shardPartial
	err = ev.eachShard(rw.src.sel, func(_ int, ss *pipeline.SeriesSet) error {
		p, err := ev.shardAggregate(e, grouping, rw, ss)
		if err != nil {
			return err
		}
		mu.Lock()
		parts = append(parts, p)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, true, err
	}
	// Two series whose function results have one label set make Prometheus
	// fail (or merge them when they never overlap): rare (a selector over
	// several metric names); the engine-side path handles it exactly.
	seen := map[uint64]struct{}{}
	held := 0
	for _, p := range parts {
		held += p.held
		for _, h := range p.hashes {
			if _, dup := seen[h]; dup {
				return nil, false, nil
			}
			seen[h] = struct{}{}
		}
	}
	for _, p := range parts {
		ev.annos.Merge(p.annos)
	}
	if err := ev.hold(held); err != nil {
		return nil, true, err
	}
	return mergePartials(e.Op, parts, g.n), true, nil
}

// shardAggregate evaluates the range function over one shard's series and
// folds every result into the shard's partial aggregate.
func (ev *evaluator) shardAggregate(e *parser.AggregateExpr, grouping []string, rw *rangeWork, ss *pipeline.SeriesSet) (*shardPartial, error) {
	p := &shardPartial{}
	idx := map[string]*partialGroup{}
	var st rangeState
	st.init(rw)
	n := rw.g.n
	var buf []byte
	for ss.Next() {
		if err := ev.checkCtx(); err != nil {
			return nil, err
		}
		s := ss.At()
		st.it = s.Iterator(st.it)
		st.buf.reset()
		st.cur = s
		vs, ok, err := rw.series(&st, rseries{lset: s.Labels()}, true, &p.annos)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		si := int32(len(p.keys))
		p.keys = append(p.keys, s.Labels())
		p.hashes = append(p.hashes, vs.lset.Hash())
		key := groupingKey(vs.lset, e.Without, grouping, buf)
		pg := idx[key]
		if pg == nil {
			pg = &partialGroup{key: key, lset: groupingLabels(vs.lset, e.Without, grouping), first: s.Labels(),
				f: make([]float64, n), ok: make([]bool, n)}
			if e.Op == parser.MIN || e.Op == parser.MAX {
				pg.who = make([]int32, n)
			}
			idx[key] = pg
			p.groups = append(p.groups, pg)
		}
		for i := range n {
			if vs.ok[i] {
				pg.fold(e.Op, i, vs.f[i], si)
			}
		}
	}
	if err := ss.Err(); err != nil {
		return nil, err
	}
	p.held = st.held
	return p, nil
}

// fold adds value f of the shard's series si at step i.
func (pg *partialGroup) fold(op parser.ItemType, i int, f float64, si int32) {
	if !pg.ok[i] {
		pg.ok[i] = true
		switch op {
		case parser.COUNT, parser.GROUP:
			pg.f[i] = 1
		default:
			pg.f[i], pg.who[i] = f, si
		}
		return
	}
	switch op {
	case parser.COUNT:
		pg.f[i]++
	case parser.MAX:
		if pg.f[i] < f || math.IsNaN(pg.f[i]) {
			pg.f[i], pg.who[i] = f, si
		}
	case parser.MIN:
		if pg.f[i] > f || math.IsNaN(pg.f[i]) {
			pg.f[i], pg.who[i] = f, si
		}
	}
}

// mergePartials merges the shards' partial aggregates into the result, its
// groups in the order of their first input series (as the engine-side
// aggregation orders them).
func mergePartials(op parser.ItemType, parts []*shardPartial, n int) *vectorVal {
	type merged struct {
		g     *partialGroup
		whoP  []*shardPartial // min/max: the shard holding the value
		first labels.Labels
	}
	idx := map[string]*merged{}
	var out []*merged
	for _, p := range parts {
		for _, pg := range p.groups {
			m := idx[pg.key]
			if m == nil {
				m = &merged{g: pg, first: pg.first}
				if pg.who != nil {
					m.whoP = make([]*shardPartial, n)
					for i := range m.whoP {
						m.whoP[i] = p
					}
				}
				idx[pg.key] = m
				out = append(out, m)
				continue
			}
			if labels.Compare(pg.first, m.first) < 0 {
				m.first = pg.first
			}
			for i := range n {
				if !pg.ok[i] {
					continue
				}
				if !m.g.ok[i] {
					m.g.ok[i], m.g.f[i] = true, pg.f[i]
					if m.whoP != nil {
						m.g.who[i], m.whoP[i] = pg.who[i], p
					}
					continue
				}
				switch op {
				case parser.COUNT:
					m.g.f[i] += pg.f[i]
				case parser.MIN, parser.MAX:
					if betterPartial(op, pg.f[i], m.g.f[i], p.keys[pg.who[i]], m.whoP[i].keys[m.g.who[i]]) {
						m.g.f[i], m.g.who[i], m.whoP[i] = pg.f[i], pg.who[i], p
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b *merged) int { return labels.Compare(a.first, b.first) })
	res := &vectorVal{s: make([]vseries, 0, len(out))}
	for _, m := range out {
		res.s = append(res.s, vseries{lset: m.g.lset, f: m.g.f, ok: m.g.ok})
	}
	res.s = compactSeries(res.s)
	return res
}

// betterPartial reports whether candidate value a (from input series ka)
// replaces the current b (from kb) in a merged min or max: the sequential
// result is the first series in label order holding the best non-NaN
// value.
func betterPartial(op parser.ItemType, a, b float64, ka, kb labels.Labels) bool {
	switch {
	case math.IsNaN(a):
		return math.IsNaN(b) && labels.Compare(ka, kb) > 0 // all NaN: the last one, as the sequential fold
	case math.IsNaN(b):
		return true
	case a == b:
		return labels.Compare(ka, kb) < 0
	case op == parser.MAX:
		return a > b
	default:
		return a < b
	}
}

// evalAggregateInput evaluates the input of e. count and group of a plain
// selector use no sample value, only which steps have a sample that is not
// a stale marker, so the selector is read with SelectHints.StaleOnly:
// decimal chunks then skip decoding their values.
func (ev *evaluator) evalAggregateInput(e *parser.AggregateExpr, g grid) (any, error) {
	if vs, ok := e.Expr.(*parser.VectorSelector); ok && !vs.Smoothed && (e.Op == parser.COUNT || e.Op == parser.GROUP) {
		ev.staleOnly = true
		defer func() { ev.staleOnly = false }()
	}
	return ev.eval(e.Expr, g)
}
