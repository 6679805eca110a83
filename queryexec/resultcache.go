package queryexec

import (
	"cmp"
	"container/list"
	"context"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// DefaultCacheBytes is the default bound of the range query result cache
// (Options.CacheBytes).
const DefaultCacheBytes = 64 << 20

// The range query result cache.
//
// What it keeps. One entry per (canonical expression, step, lookback delta,
// start mod step): the matrix of the last range query of that shape, its
// step range [start, end], and the change-tracker epoch
// (pipeline.Changes.Epoch) taken before it was evaluated. Grafana re-issues
// a panel's query every refresh with start and end moved on by the refresh
// interval, so consecutive requests share most of their steps.
//
// Why a cached step stays exact. A range query's value at step t is a
// function of t and of the samples it reads, and for the expressions the
// cache admits (cacheable: no @, no duration expression, so nothing that
// depends on the query's own start or end) it reads only samples at or
// before t+ahead, where ahead is the sum of the negative offsets in the
// expression. Subquery steps are aligned to multiples of their step, not
// to the query. So a step stays exact until a change visible to queries
// touches a timestamp at or before t+ahead. pipeline.Changes gives the
// lowest timestamp lo changed since the entry's epoch (appends of any age,
// deletes, retention); the entry's steps t < lo-ahead are still what a full
// evaluation returns now. The rest are recomputed.
//
// A request. Take a new epoch, look the shape up, cut the entry to its
// valid steps, evaluate only the steps of [start, end] outside them (a
// prefix and/or a suffix, each an ordinary evaluation of a shorter range
// with the same step alignment), merge by label set (the result is sorted
// by labels, as a full evaluation's), store the merged matrix under the new
// epoch and return a copy of it. A change that lands during the request is
// noted in a slot at or after the new epoch, so the next request sees it.
//
// Annotations. A full evaluation's warnings and infos are the union over
// its steps, and a step's are only known by evaluating it; so only results
// without annotations are stored, and a request whose partial evaluation
// returns any, or fails, is evaluated again in full, uncached.
//
// Limits. A partial evaluation holds fewer samples than a full one, so a
// warm request may succeed where the full query would exceed MaxSamples.
//
// Bounded memory: the entries' estimated bytes stay under Options.CacheBytes,
// least recently used first out; an entry larger than a quarter of the
// bound is not stored. Safe for concurrent use; one mutex guards the map
// and the list, and no evaluation runs under it.
type resultCache struct {
	changes  *pipeline.Changes
	maxBytes int64
	log      *zap.Logger
	m        *cacheMetrics

	mu      sync.Mutex
	entries map[string]*list.Element // of *cacheEntry
	lru     list.List                // front: most recently used
	bytes   int64
}

type cacheEntry struct {
	key        string
	epoch      int64
	start, end int64 // the steps the matrix covers, ms
	matrix     []Series
	// instant, for an instant query's entry: its vector or scalar result
	// at start (= end); matrix is then nil.
	instant *Result
	bytes   int64
}

type cacheMetrics struct {
	hits, misses, evictions prometheus.Counter
	bytes, entries          prometheus.Gauge
}

func newResultCache(changes *pipeline.Changes, maxBytes int64, log *zap.Logger, r prometheus.Registerer) *resultCache {
	m := &cacheMetrics{
		hits: prometheus.NewCounter(prometheus.CounterOpts{Name: "tsdb_query_cache_hits_total",
			Help: "Range queries answered wholly or partly, and instant queries answered, from the result cache."}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{Name: "tsdb_query_cache_misses_total",
			Help: "Cacheable range queries evaluated in full (no valid cached step), and cacheable instant queries evaluated."}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{Name: "tsdb_query_cache_evictions_total",
			Help: "Result cache entries evicted to stay within --query.cache-size."}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tsdb_query_cache_bytes",
			Help: "Estimated bytes held by the query result cache."}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tsdb_query_cache_entries",
			Help: "Entries in the query result cache."}),
	}
	if r != nil {
		r.MustRegister(m.hits, m.misses, m.evictions, m.bytes, m.entries)
	}
	return &resultCache{changes: changes, maxBytes: maxBytes, log: log.Named("resultcache"), m: m,
		entries: map[string]*list.Element{}}
}

// cacheable reports whether expr's value at a step depends only on the step
// and on samples at or before step+ahead (ms), and returns ahead. It refuses
// @ (fixed or start()/end()), duration expressions (they may use range()),
// and the range() function: each depends on the query's own start or end.
func cacheable(expr parser.Expr) (ahead int64, ok bool) {
	ok = true
	negOffset := func(d int64) {
		if d < 0 {
			ahead -= d
		}
	}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			if n.Timestamp != nil || n.StartOrEnd != 0 || n.OriginalOffsetExpr != nil {
				ok = false
			}
			negOffset(n.OriginalOffset.Milliseconds())
		case *parser.MatrixSelector:
			if n.RangeExpr != nil {
				ok = false
			}
		case *parser.SubqueryExpr:
			if n.Timestamp != nil || n.StartOrEnd != 0 || n.RangeExpr != nil || n.OriginalOffsetExpr != nil || n.StepExpr != nil {
				ok = false
			}
			negOffset(n.OriginalOffset.Milliseconds())
		case *parser.DurationExpr:
			ok = false
		case *parser.Call:
			// range() (experimental) is the query's end minus its start.
			switch n.Func.Name {
			case "range", "start", "end":
				ok = false
			}
		}
		return nil
	})
	return ahead, ok
}

// rangeCached is Range through the cache: the same result as e.exec over
// [start, end] at step interval, computing only the steps not cached.
func (e *Engine) rangeCached(ctx context.Context, q string, start, end, interval int64, o QueryOpts) (*Result, error) {
	c := e.cache
	expr, err := e.Parse(q)
	if err != nil {
		return nil, err
	}
	ahead, ok := cacheable(expr)
	if !ok || interval <= 0 || (expr.Type() != parser.ValueTypeVector && expr.Type() != parser.ValueTypeScalar) {
		return e.exec(ctx, q, start, end, interval, o)
	}
	key := expr.String() + "\x00" + strconv.FormatInt(interval, 10) + "\x00" +
		strconv.FormatInt(e.lookback(o).Milliseconds(), 10) + "\x00" + strconv.FormatInt(mod(start, interval), 10)
	end = start + (end-start)/interval*interval // the last step; a full evaluation's too
	epoch := c.changes.Epoch()                  // before anything is read

	cs, ce, cached := c.lookup(key, ahead, interval)
	os, oe := max(start, cs), min(end, ce)
	if cached == nil || os > oe {
		c.m.misses.Inc()
		res, err := e.exec(ctx, q, start, end, interval, o)
		if err == nil && len(res.Warnings) == 0 && len(res.Infos) == 0 {
			c.store(key, epoch, start, end, res.Matrix)
			res.Matrix = copyMatrix(res.Matrix)
		}
		return res, err
	}
	var pre, suf *Result
	if start < os {
		pre, err = e.exec(ctx, q, start, os-interval, interval, o)
	}
	if err == nil && oe < end {
		suf, err = e.exec(ctx, q, oe+interval, end, interval, o)
	}
	if err != nil || hasAnnotations(pre) || hasAnnotations(suf) {
		// Only a full evaluation knows the whole range's annotations (and
		// its errors): answer with one, uncached.
		c.m.misses.Inc()
		return e.exec(ctx, q, start, end, interval, o)
	}
	c.m.hits.Inc()
	merged := mergeSpans(matrixOf(pre), sliceMatrix(cached, os, oe), matrixOf(suf))
	if ce := c.log.Check(zap.DebugLevel, "query cache hit"); ce != nil {
		ce.Write(zap.String("query", q), zap.Int64("start", start), zap.Int64("end", end),
			zap.Int64("step", interval), zap.Int64("cached_from", os), zap.Int64("cached_to", oe),
			zap.Int64("computed_steps", (end-start)/interval+1-((oe-os)/interval+1)))
	}
	c.store(key, epoch, start, end, merged)
	return &Result{Type: ValueMatrix, Matrix: copyMatrix(merged)}, nil
}

// instantCached is Instant through the cache. An instant query is one
// step: its result at t reads only samples at or before t+ahead, so it
// stays exact until a change visible to queries touches a timestamp there
// (the reasoning of the range entries above). Entries are keyed by the
// canonical expression, the lookback delta and t; only vector and scalar
// results without annotations are kept. A dashboard's repeated request
// for one time (several viewers, panels sharing a query) is then answered
// without evaluation.
func (e *Engine) instantCached(ctx context.Context, q string, t int64, o QueryOpts) (*Result, error) {
	c := e.cache
	expr, err := e.Parse(q)
	if err != nil {
		return nil, err
	}
	ahead, ok := cacheable(expr)
	if !ok || (expr.Type() != parser.ValueTypeVector && expr.Type() != parser.ValueTypeScalar) {
		return e.exec(ctx, q, t, t, 0, o)
	}
	key := "\x01instant\x00" + expr.String() + "\x00" + strconv.FormatInt(e.lookback(o).Milliseconds(), 10) + "\x00" + strconv.FormatInt(t, 10)
	epoch := c.changes.Epoch() // before anything is read
	if r := c.lookupInstant(key, t, ahead); r != nil {
		c.m.hits.Inc()
		return copyInstant(r), nil
	}
	c.m.misses.Inc()
	res, err := e.exec(ctx, q, t, t, 0, o)
	if err == nil && !hasAnnotations(res) && (res.Type == ValueVector || res.Type == ValueScalar) {
		n := int64(len(key)) + 200
		for _, s := range res.Vector {
			n += 64
			s.Metric.Range(func(l labels.Label) { n += int64(len(l.Name)+len(l.Value)) + 16 })
		}
		c.put(&cacheEntry{key: key, epoch: epoch, start: t, end: t, instant: res, bytes: n})
		res = copyInstant(res)
	}
	return res, err
}

// lookupInstant returns the instant result cached under key when it is
// still exact (nil otherwise). It is shared: read only.
func (c *resultCache) lookupInstant(key string, t, ahead int64) *Result {
	c.mu.Lock()
	el, ok := c.entries[key]
	if !ok {
		c.mu.Unlock()
		return nil
	}
	c.lru.MoveToFront(el)
	ent := el.Value.(*cacheEntry)
	c.mu.Unlock()
	lo, known := c.changes.Since(ent.epoch)
	if !known || ent.instant == nil {
		return nil
	}
	// Valid while t < lo-ahead, as a range entry's steps.
	if lo != math.MaxInt64 && (lo < math.MinInt64+ahead+1 || t >= lo-ahead) {
		return nil
	}
	return ent.instant
}

// copyInstant copies an instant result's vector, so the caller may change
// it without touching the cache (labels are immutable and shared).
func copyInstant(r *Result) *Result {
	out := &Result{Type: r.Type, Scalar: r.Scalar}
	if r.Vector != nil {
		out.Vector = append(make([]Sample, 0, len(r.Vector)), r.Vector...)
	}
	return out
}

// lookup returns the entry of key cut to the steps still valid (its step
// range and matrix; nil when nothing is valid). The matrix is shared: read
// only.
func (c *resultCache) lookup(key string, ahead, interval int64) (start, end int64, m []Series) {
	c.mu.Lock()
	el, ok := c.entries[key]
	if !ok {
		c.mu.Unlock()
		return 0, 0, nil
	}
	c.lru.MoveToFront(el)
	ent := el.Value.(*cacheEntry)
	c.mu.Unlock()
	lo, known := c.changes.Since(ent.epoch)
	if !known {
		return 0, 0, nil
	}
	end = ent.end
	if lo != math.MaxInt64 {
		// Steps t < lo-ahead read nothing that changed.
		if lo-ahead <= ent.start || lo < math.MinInt64+ahead+1 {
			return 0, 0, nil
		}
		last := lo - ahead - 1
		end = min(end, last-mod(last-ent.start, interval))
	}
	return ent.start, end, ent.matrix
}

// store puts m, covering the steps [start, end], under key, replacing the
// entry there, and evicts the least recently used entries over the bound.
// m must not be modified afterwards.
func (c *resultCache) store(key string, epoch, start, end int64, m []Series) {
	n := int64(len(key)) + 200
	for _, s := range m {
		n += 64 + int64(16*len(s.Floats))
		s.Metric.Range(func(l labels.Label) { n += int64(len(l.Name)+len(l.Value)) + 16 })
	}
	c.put(&cacheEntry{key: key, epoch: epoch, start: start, end: end, matrix: m, bytes: n})
}

// put stores ent under ent.key, replacing the entry there, and evicts the
// least recently used entries over the bound; an entry larger than a
// quarter of the bound is not stored.
func (c *resultCache) put(ent *cacheEntry) {
	key, n := ent.key, ent.bytes
	if n > c.maxBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.bytes -= el.Value.(*cacheEntry).bytes
		c.lru.Remove(el)
	}
	c.entries[key] = c.lru.PushFront(ent)
	c.bytes += n
	for c.bytes > c.maxBytes {
		el := c.lru.Back()
		old := el.Value.(*cacheEntry)
		c.lru.Remove(el)
		delete(c.entries, old.key)
		c.bytes -= old.bytes
		c.m.evictions.Inc()
	}
	c.m.bytes.Set(float64(c.bytes))
	c.m.entries.Set(float64(len(c.entries)))
}

func hasAnnotations(r *Result) bool { return r != nil && (len(r.Warnings) > 0 || len(r.Infos) > 0) }

func matrixOf(r *Result) []Series {
	if r == nil {
		return nil
	}
	return r.Matrix
}

// sliceMatrix returns m's points with T in [start, end], dropping series
// left with none. The points are shared with m.
func sliceMatrix(m []Series, start, end int64) []Series {
	out := make([]Series, 0, len(m))
	for _, s := range m {
		i, _ := slices.BinarySearchFunc(s.Floats, start, func(p FPoint, t int64) int { return cmp.Compare(p.T, t) })
		j, found := slices.BinarySearchFunc(s.Floats, end, func(p FPoint, t int64) int { return cmp.Compare(p.T, t) })
		if found {
			j++
		}
		if i < j {
			out = append(out, Series{Metric: s.Metric, Floats: s.Floats[i:j:j]})
		}
	}
	return out
}

// mergeSpans joins the matrices of consecutive step spans (each sorted by
// labels, each span's steps before the next's) into one sorted by labels,
// each series' points in time order, in fresh arrays.
func mergeSpans(spans ...[]Series) []Series {
	type tagged struct {
		s    Series
		span int
	}
	var all []tagged
	for i, m := range spans {
		for _, s := range m {
			all = append(all, tagged{s, i})
		}
	}
	slices.SortStableFunc(all, func(a, b tagged) int {
		if c := labels.Compare(a.s.Metric, b.s.Metric); c != 0 {
			return c
		}
		return cmp.Compare(a.span, b.span)
	})
	out := make([]Series, 0, len(all))
	for i := 0; i < len(all); {
		j, n := i, 0
		for ; j < len(all) && labels.Equal(all[j].s.Metric, all[i].s.Metric); j++ {
			n += len(all[j].s.Floats)
		}
		pts := make([]FPoint, 0, n)
		for k := i; k < j; k++ {
			pts = append(pts, all[k].s.Floats...)
		}
		out = append(out, Series{Metric: all[i].s.Metric, Floats: pts})
		i = j
	}
	return out
}

// copyMatrix copies m's points into one fresh array, so a caller may keep
// or change the result without touching the cache.
func copyMatrix(m []Series) []Series {
	if len(m) == 0 {
		return nil
	}
	n := 0
	for _, s := range m {
		n += len(s.Floats)
	}
	all := make([]FPoint, n)
	out := make([]Series, len(m))
	for i, s := range m {
		pts := all[:len(s.Floats):len(s.Floats)]
		all = all[len(s.Floats):]
		copy(pts, s.Floats)
		out[i] = Series{Metric: s.Metric, Floats: pts}
	}
	return out
}

// mod is a mod m in [0, m) for m > 0.
func mod(a, m int64) int64 { return ((a % m) + m) % m }
