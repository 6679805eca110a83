package queryexec

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/stages"
)

var cacheSeed = flag.Uint64("cache.seed", 0, "seed of TestResultCache_RandomModel (0: time-based)")

// appendAny appends samples of any age and ignores rejections (a repeated
// timestamp with another value).
func appendAny(t testing.TB, db *pipeline.DB, lset labels.Labels, ts []int64, fs []float64) {
	t.Helper()
	var b stages.Batch
	ref := b.AddSeries(lset, nil)
	for i := range ts {
		b.AddSample(ref, ts[i], fs[i])
	}
	if _, err := db.Append(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
}

// sameResult fails unless a and b are bit-exactly the same: series, order,
// points and annotations.
func sameResult(t testing.TB, what string, a, b *Result) {
	t.Helper()
	require.Equal(t, a.Type, b.Type, what)
	require.Equal(t, a.Warnings, b.Warnings, what)
	require.Equal(t, a.Infos, b.Infos, what)
	require.Equal(t, len(a.Matrix), len(b.Matrix), "%s: series %v vs %v", what, a.Matrix, b.Matrix)
	for i := range a.Matrix {
		require.True(t, labels.Equal(a.Matrix[i].Metric, b.Matrix[i].Metric), "%s: series %d: %s vs %s", what, i, a.Matrix[i].Metric, b.Matrix[i].Metric)
		pa, pb := a.Matrix[i].Floats, b.Matrix[i].Floats
		require.Equal(t, len(pa), len(pb), "%s: %s: points %v vs %v", what, a.Matrix[i].Metric, pa, pb)
		for j := range pa {
			if pa[j].T != pb[j].T || math.Float64bits(pa[j].F) != math.Float64bits(pb[j].F) {
				t.Fatalf("%s: %s point %d: %v vs %v", what, a.Matrix[i].Metric, j, pa[j], pb[j])
			}
		}
	}
}

// checkCached runs q over [start, end] through the cache and uncached and
// requires the same answer; it returns the cached one.
func checkCached(t testing.TB, e *Engine, what, q string, start, end int64, step time.Duration) *Result {
	t.Helper()
	ctx := context.Background()
	got, gerr := e.Range(ctx, q, time.UnixMilli(start), time.UnixMilli(end), step, QueryOpts{})
	want, werr := e.Range(ctx, q, time.UnixMilli(start), time.UnixMilli(end), step, QueryOpts{NoCache: true})
	if werr != nil || gerr != nil {
		require.Equal(t, werr != nil, gerr != nil, "%s %s: errors %v vs %v", what, q, gerr, werr)
		return nil
	}
	sameResult(t, fmt.Sprintf("%s %s [%d,%d] %v", what, q, start, end, step), got, want)
	return got
}

func counterSeries(name, inst string, from, to, every int64) (labels.Labels, []int64, []float64) {
	var ts []int64
	var fs []float64
	for x := from; x <= to; x += every {
		ts = append(ts, x)
		fs = append(fs, float64(x/1000))
	}
	return labels.FromStrings("__name__", name, "instance", inst), ts, fs
}

func TestResultCache_LateSampleInvalidates(t *testing.T) {
	db := testDB(t)
	e := NewEngine(db, Options{})
	for _, inst := range []string{"a", "b"} {
		ls, ts, fs := counterSeries("x_total", inst, 0, 3_600_000, 15_000)
		appendAny(t, db, ls, ts, fs)
	}
	q := `sum(rate(x_total[5m]))`
	first := checkCached(t, e, "cold", q, 600_000, 3_000_000, time.Minute)
	// A late sample inside the cached range, between two stored ones.
	appendAny(t, db, labels.FromStrings("__name__", "x_total", "instance", "a"), []int64{1_200_007}, []float64{5})
	second := checkCached(t, e, "after late sample", q, 660_000, 3_060_000, time.Minute)
	require.NotEqual(t, first.Matrix[0].Floats[11].F, second.Matrix[0].Floats[10].F, "the late sample changed nothing: the test proves nothing")
	require.Positive(t, testutil.ToFloat64(e.cache.m.hits))
}

func TestResultCache_DeleteInvalidates(t *testing.T) {
	db := testDB(t)
	e := NewEngine(db, Options{})
	for _, inst := range []string{"a", "b"} {
		ls, ts, fs := counterSeries("x_total", inst, 0, 3_600_000, 15_000)
		appendAny(t, db, ls, ts, fs)
	}
	for _, q := range []string{`x_total`, `count(x_total)`} {
		checkCached(t, e, "cold", q, 0, 3_600_000, time.Minute)
	}
	m, err := labels.NewMatcher(labels.MatchEqual, "instance", "b")
	require.NoError(t, err)
	require.NoError(t, db.Delete(context.Background(), 1_000_000, 2_000_000, m))
	for _, q := range []string{`x_total`, `count(x_total)`} {
		r := checkCached(t, e, "after delete", q, 0, 3_600_000, time.Minute)
		if q == `x_total` {
			require.Len(t, r.Matrix, 2)
			require.Less(t, len(r.Matrix[1].Floats), len(r.Matrix[0].Floats), "delete removed nothing")
		}
	}
}

func TestResultCache_RetentionInvalidates(t *testing.T) {
	var now atomic.Int64
	now.Store(6 * 3_600_000)
	db, err := pipeline.Open(t.TempDir(), pipeline.Options{Shards: 2, HeadGCInterval: -1,
		Retention: 4 * time.Hour, Now: func() time.Time { return time.UnixMilli(now.Load()) }})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	e := NewEngine(db, Options{})
	ls, ts, fs := counterSeries("x_total", "a", 3_600_000, 6*3_600_000, 60_000)
	appendAny(t, db, ls, ts, fs)
	q := `x_total`
	before := checkCached(t, e, "cold", q, 0, 6*3_600_000, 10*time.Minute)
	now.Store(12 * 3_600_000)
	ls, ts, fs = counterSeries("x_total", "a", 6*3_600_000+60_000, 12*3_600_000, 60_000)
	appendAny(t, db, ls, ts, fs)
	require.NoError(t, db.Compact(context.Background(), true))
	after := checkCached(t, e, "after retention", q, 0, 6*3_600_000, 10*time.Minute)
	require.Less(t, len(after.Matrix[0].Floats), len(before.Matrix[0].Floats), "retention dropped nothing")
}

func TestCacheable(t *testing.T) {
	for q, want := range map[string]int64{
		`rate(x[5m])`:                         0,
		`x offset -2m + y offset -3m`:         300_000,
		`max_over_time(x[10m:1m] offset -1m)`: 60_000,
		`x @ 100`:                             -1,
		`x @ start()`:                         -1,
		`rate(x[5m:1m] @ end())`:              -1,
		`x offset (1m+1m)`:                    -1,
		`rate(x[step()])`:                     -1,
	} {
		expr, err := NewEngine(nil, Options{EnableExperimentalFunctions: true}).Parse(q)
		require.NoError(t, err, q)
		ahead, ok := cacheable(expr)
		if want < 0 {
			require.False(t, ok, q)
			continue
		}
		require.True(t, ok, q)
		require.Equal(t, want, ahead, q)
	}
}

// TestResultCache_RandomModel interleaves random writes of any age, deletes
// and range queries over random shifted windows, and requires every cached
// answer to equal an uncached evaluation.
func TestResultCache_RandomModel(t *testing.T) {
	seed := *cacheSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-cache.seed to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	db := testDB(t)
	e := NewEngine(db, Options{CacheBytes: 1 << 20})
	const span = 3 * 3_600_000
	names := []string{"x_total", "g"}
	insts := []string{"a", "b", "c"}
	for _, n := range names {
		for _, i := range insts {
			ls, ts, fs := counterSeries(n, i, 0, span/2, 15_000)
			appendAny(t, db, ls, ts, fs)
		}
	}
	queries := []string{
		`x_total`, `rate(x_total[5m])`, `sum(rate(x_total[2m]))`, `sum by (instance)(g)`,
		`g offset -3m`, `max_over_time(g[10m:1m])`, `count(x_total)`, `timestamp(g)`,
		`rate(x_total[5m] offset 2m)`, `deriv(g[5m])`, `g > 3000`, `time()`, `rate(g[5m])`,
		`topk(2, g)`, `absent(nope)`, `changes(g[15m])`, `g - on(instance) x_total`,
	}
	steps := []time.Duration{15 * time.Second, time.Minute, 5 * time.Minute}
	type window struct {
		start, end int64
		step       time.Duration
	}
	windows := map[string]window{}
	for op := range 400 {
		switch r := rng.IntN(10); {
		case r < 3: // a write of any age
			ls := labels.FromStrings("__name__", names[rng.IntN(len(names))], "instance", insts[rng.IntN(len(insts))])
			n := 1 + rng.IntN(5)
			base := rng.Int64N(span)
			var ts []int64
			var fs []float64
			for k := range n {
				ts = append(ts, base+int64(k)*rng.Int64N(60_000))
				fs = append(fs, float64(rng.IntN(10_000)))
			}
			appendAny(t, db, ls, ts, fs)
		case r < 4: // a delete
			m, err := labels.NewMatcher(labels.MatchEqual, "instance", insts[rng.IntN(len(insts))])
			require.NoError(t, err)
			mint := rng.Int64N(span)
			require.NoError(t, db.Delete(context.Background(), mint, mint+rng.Int64N(600_000), m))
		default: // a query: a new window, or the last one shifted as a dashboard does
			q := queries[rng.IntN(len(queries))]
			w, ok := windows[q]
			if !ok || rng.IntN(4) == 0 {
				st := steps[rng.IntN(len(steps))]
				start := rng.Int64N(span)
				w = window{start, start + rng.Int64N(span/2), st}
			} else {
				shift := int64(rng.IntN(5)) * w.step.Milliseconds()
				if rng.IntN(3) == 0 {
					shift = -shift
				}
				w.start += shift
				w.end += shift + int64(rng.IntN(3)-1)*w.step.Milliseconds()
				if w.end < w.start {
					w.end = w.start
				}
			}
			windows[q] = w
			checkCached(t, e, fmt.Sprintf("op %d", op), q, w.start, w.end, w.step)
		}
	}
	t.Logf("hits %v misses %v evictions %v", testutil.ToFloat64(e.cache.m.hits), testutil.ToFloat64(e.cache.m.misses), testutil.ToFloat64(e.cache.m.evictions))
	require.Positive(t, testutil.ToFloat64(e.cache.m.hits))
}

// TestResultCache_ConcurrentQueriesAndWrites runs cached range queries from
// several goroutines while samples are appended (for -race): once the
// writers stop, every cached answer equals an uncached one.
func TestResultCache_ConcurrentQueriesAndWrites(t *testing.T) {
	db := testDB(t)
	e := NewEngine(db, Options{CacheBytes: 256 << 10})
	ls, ts, fs := counterSeries("x_total", "a", 0, 3_600_000, 15_000)
	appendAny(t, db, ls, ts, fs)
	ctx := context.Background()
	done := make(chan struct{})
	errs := make(chan error, 4)
	for g := range 3 {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				start := int64((i+g)%20) * 60_000
				if _, err := e.Range(ctx, `sum(rate(x_total[5m]))`, time.UnixMilli(start), time.UnixMilli(start+1_800_000), time.Minute, QueryOpts{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 200 {
		appendAny(t, db, labels.FromStrings("__name__", "x_total", "instance", "b"), []int64{int64(i) * 7_000}, []float64{float64(i)})
	}
	close(done)
	for range 3 {
		require.NoError(t, <-errs)
	}
	for start := int64(0); start < 20*60_000; start += 60_000 {
		checkCached(t, e, "after writes", `sum(rate(x_total[5m]))`, start, start+1_800_000, time.Minute)
	}
}

// TestResultCache_Instant: a repeated instant query is answered from the
// cache (a hit, the same result), and a late sample at or before its time
// invalidates the entry, while one after it does not.
func TestResultCache_Instant(t *testing.T) {
	db := testDB(t)
	ls, ts, fs := counterSeries("x_total", "a", 0, 3_600_000, 15_000)
	appendAny(t, db, ls, ts, fs)
	e := NewEngine(db, Options{})
	ctx := context.Background()
	at := time.UnixMilli(1_800_000)
	const q = `sum(count_over_time(x_total[1m]))`
	run := func(what string) *Result {
		t.Helper()
		got, err := e.Instant(ctx, q, at, QueryOpts{})
		require.NoError(t, err)
		want, err := e.Instant(ctx, q, at, QueryOpts{NoCache: true})
		require.NoError(t, err)
		require.Equal(t, want.Type, got.Type, what)
		require.Equal(t, fmt.Sprint(want.Vector), fmt.Sprint(got.Vector), what)
		return got
	}
	first := run("first")
	hits := testutil.ToFloat64(e.cache.m.hits)
	run("repeated")
	require.Equal(t, hits+1, testutil.ToFloat64(e.cache.m.hits), "a repeated instant query is a hit")
	// A sample after the query's time changes nothing it read.
	appendAny(t, db, labels.FromStrings("__name__", "x_total", "instance", "b"), []int64{1_900_000}, []float64{1})
	run("after a later sample")
	// A new series inside the 1 m window changes count_over_time's result.
	appendAny(t, db, labels.FromStrings("__name__", "x_total", "instance", "c"), []int64{1_790_000}, []float64{5})
	got := run("after a sample inside the window")
	require.NotEqual(t, fmt.Sprint(first.Vector), fmt.Sprint(got.Vector), "the late sample must change the result")
}
