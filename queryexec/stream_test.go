package queryexec

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/pipeline"
)

// TestStreamingMatchesMaterialized checks the streaming selectors, pushed
// down into the shards' reads, against the simple path that reads whole
// series into memory, query by query, bit for bit: over the head (XOR
// chunks), and over compacted blocks, where windows are filled from the
// decoded decimal chunks' columns in place (SampleIterator.Fill) and the
// step grid's hints skip chunks.
func TestStreamingMatchesMaterialized(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run(fmt.Sprintf("compacted=%v", compact), func(t *testing.T) {
			o := pipeline.Options{Shards: 2, HeadGCInterval: -1}
			if compact {
				o.BlockRange = 10 * time.Minute
				o.CompactionRanges = []time.Duration{10 * time.Minute, 40 * time.Minute}
			}
			db, err := pipeline.Open(t.TempDir(), o)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			appendSeries(t, db, streamTestSeries()...)
			if compact {
				if err := db.Compact(context.Background(), true); err != nil {
					t.Fatal(err)
				}
				requireDecimalChunks(t, db)
			}
			// Range windows from the decoded columns in place
			// (rangecols.go) and through SampleIterator.Fill.
			for _, cols := range []bool{true, false} {
				t.Run(fmt.Sprintf("colWindows=%v", cols), func(t *testing.T) {
					noColWindows = !cols
					defer func() { noColWindows = false }()
					checkStreamingMatchesMaterialized(t, db)
				})
			}
		})
	}
}

func streamTestSeries() []testSeries {
	r := rand.New(rand.NewPCG(3, 4))
	var ss []testSeries
	for i := range 80 {
		s := testSeries{lset: labels.FromStrings("__name__", "m_total", "i", fmt.Sprint(i), "g", fmt.Sprint(i%7))}
		v := 0.0
		for k := range 300 {
			if r.IntN(15) == 0 {
				continue
			}
			v += float64(r.IntN(10))
			if r.IntN(60) == 0 {
				v = 0
			}
			f := v
			if r.IntN(100) == 0 {
				f = math.Float64frombits(value.StaleNaN)
			}
			s.t = append(s.t, int64(k)*15_000+r.Int64N(3000))
			s.f = append(s.f, f)
		}
		ss = append(ss, s)
	}
	return ss
}

// requireDecimalChunks fails unless compaction re-encoded some chunks as
// decimal (the in-place window path is then exercised).
func requireDecimalChunks(t *testing.T, db *pipeline.DB) {
	t.Helper()
	q, err := db.Querier(0, 5000_000)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss, err := q.Select(context.Background(), labels.MustNewMatcher(labels.MatchEqual, "__name__", "m_total"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ss.Len() {
		for _, c := range ss.Series(i).Chunks() {
			if c.Enc != chunkstore.EncXOR {
				return
			}
		}
	}
	t.Fatal("no decimal chunk after compaction")
}

func checkStreamingMatchesMaterialized(t *testing.T, db *pipeline.DB) {
	e := NewEngine(db, Options{Parallelism: 4})
	if cap(e.pool) != 4 {
		t.Fatalf("worker pool of %d tokens, want 4: the parallel path would not run", cap(e.pool))
	}
	queries := []string{
		`m_total`, `rate(m_total[5m])`, `sum by (g) (increase(m_total[2m]))`, `max_over_time(m_total[10m] offset 3m)`,
		`count_over_time(m_total[1m] @ 3000)`, `changes(m_total[7m])`, `quantile_over_time(0.3, m_total[4m])`,
		`timestamp(m_total)`, `m_total offset -2m`, `last_over_time(m_total[30s])`, `rate(m_total[1m] anchored)`,
		`increase(m_total[2m] smoothed)`, `count by (g) (m_total)`, `count_over_time(m_total[45s])`,
		// Partial aggregates in the shards (materialized: engine side).
		`max by (g) (rate(m_total[5m]))`, `min without (i) (delta(m_total[2m]))`, `count(changes(m_total[3m]))`,
		`group by (g) (irate(m_total[1m]))`, `max(resets(m_total[4m]))`, `min by (g) (last_over_time(m_total[1m] @ 2000))`,
		`count by (__name__) (rate(m_total[5m]))`, `max(idelta(m_total[2m] offset 1m))`,
	}
	ctx := context.Background()
	for _, q := range queries {
		for _, step := range []time.Duration{15 * time.Second, time.Minute, 17 * time.Minute} {
			forceMaterialized = false
			got, err := e.Range(ctx, q, time.UnixMilli(0), time.UnixMilli(4500_000), step, QueryOpts{NoCache: true})
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			forceMaterialized = true
			want, err := e.Range(ctx, q, time.UnixMilli(0), time.UnixMilli(4500_000), step, QueryOpts{NoCache: true})
			forceMaterialized = false
			if err != nil {
				t.Fatalf("%s materialized: %v", q, err)
			}
			if len(got.Matrix) == 0 || !reflect.DeepEqual(fmt.Sprint(got.Matrix), fmt.Sprint(want.Matrix)) || !reflect.DeepEqual(got.Infos, want.Infos) {
				t.Fatalf("%s step %s: streaming and materialized results differ (%d vs %d series)", q, step, len(got.Matrix), len(want.Matrix))
			}
		}
	}
}

// TestEachShard_PanicBecomesQueryError: a panic in pushed-down shard work
// (on a fan-out goroutine, where nothing else would recover it and the
// process would end) becomes the query's internal error, and the worker
// tokens are returned.
func TestEachShard_PanicBecomesQueryError(t *testing.T) {
	db := testDB(t)
	var ss []testSeries
	for i := range 40 {
		ss = append(ss, testSeries{lset: labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)), t: []int64{1000}, f: []float64{1}})
	}
	appendSeries(t, db, ss...)
	ev := newEvaluator(context.Background(), db, 1000, 1000, 0, 300_000, 1000)
	ev.workers = make(chan struct{}, 3)
	defer ev.close()
	sel := &shardSelect{ms: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "m")}, mint: 0, maxt: 2000}
	err := ev.eachShard(sel, func(int, *pipeline.SeriesSet) error { panic("boom in a shard") })
	var qe *Error
	if !errors.As(err, &qe) || qe.Kind != KindInternal || !strings.Contains(err.Error(), "boom in a shard") {
		t.Fatalf("err = %v, want the shard's panic as an internal error", err)
	}
	if len(ev.workers) != 0 || len(ev.own) != 0 {
		t.Fatalf("%d pool and %d own tokens not returned", len(ev.workers), len(ev.own))
	}
}

// TestStaleOnlySharedColumns: count, group and timestamp-free presence
// over compacted series that share their timestamps (shared-column
// chunks), some holding stale markers and gaps: the stale-only read takes
// a column as the samples of a chunk whose header says it holds no NaN
// (nothing decoded), the others are decoded; both must give what the
// materialized path gives, at steps finer and coarser than the data.
func TestStaleOnlySharedColumns(t *testing.T) {
	o := pipeline.Options{Shards: 2, HeadGCInterval: -1, BlockRange: 10 * time.Minute,
		CompactionRanges: []time.Duration{10 * time.Minute, 40 * time.Minute}}
	db, err := pipeline.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ss []testSeries
	for i := range 40 {
		s := testSeries{lset: labels.FromStrings("__name__", "m", "i", fmt.Sprint(i), "g", fmt.Sprint(i%3))}
		for k := range 300 {
			if i%5 == 1 && k >= 100 && k < 140 {
				continue // a gap longer than the lookback
			}
			f := float64(k % 17)
			if i%7 == 2 && k%50 == 49 {
				f = math.Float64frombits(value.StaleNaN)
			}
			s.t = append(s.t, int64(k)*15_000)
			s.f = append(s.f, f)
		}
		ss = append(ss, s)
	}
	appendSeries(t, db, ss...)
	if err := db.Compact(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	// The shortcut is taken: shared-column chunks without NaN exist.
	q, err := db.Querier(0, 5000_000)
	if err != nil {
		t.Fatal(err)
	}
	set, err := q.Select(context.Background(), labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	if err != nil {
		t.Fatal(err)
	}
	shared := 0
	for i := range set.Len() {
		for _, c := range set.Series(i).Chunks() {
			if c.Enc == chunkstore.EncDecimalShared && chunkstore.HoldsNoNaN(c.Chunk) {
				shared++
			}
		}
	}
	q.Close()
	if shared == 0 {
		t.Fatal("no shared-column chunk without NaN after compaction")
	}
	e := NewEngine(db, Options{Parallelism: 4})
	ctx := context.Background()
	for _, qs := range []string{`count(m)`, `count by (g) (m)`, `group by (g) (m)`, `count(m offset 1m)`, `count(m @ 3000)`} {
		for _, step := range []time.Duration{15 * time.Second, 40 * time.Second, 17 * time.Minute} {
			forceMaterialized = false
			got, err := e.Range(ctx, qs, time.UnixMilli(0), time.UnixMilli(4500_000), step, QueryOpts{NoCache: true})
			if err != nil {
				t.Fatalf("%s: %v", qs, err)
			}
			forceMaterialized = true
			want, err := e.Range(ctx, qs, time.UnixMilli(0), time.UnixMilli(4500_000), step, QueryOpts{NoCache: true})
			forceMaterialized = false
			if err != nil {
				t.Fatalf("%s materialized: %v", qs, err)
			}
			if len(got.Matrix) == 0 || fmt.Sprint(got.Matrix) != fmt.Sprint(want.Matrix) {
				t.Fatalf("%s step %s: stale-only and materialized results differ:\n%v\n%v", qs, step, got.Matrix, want.Matrix)
			}
		}
	}
}
