package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/stages"
)

// Regression tests for the read defects of issue 11.

// Before: LabelNames, LabelValues read the head index only and ignored the
// range, so a persisted series that head GC dropped disappeared from them,
// and a range after all data still listed the head's series.
func TestQuerier_LabelsFromHeadAndBlocks(t *testing.T) {
	ctx := context.Background()
	o := blockTestOptions()
	o.IdleSeriesTimeout = 5 * time.Second
	db := openTest(t, t.TempDir(), o)
	defer db.Close()
	var b stages.Batch
	for sec := range 60 {
		b.Reset()
		b.AddSample(b.AddSeries(labels.FromStrings("__name__", "live", "job", "a"), nil), int64(sec)*1000, 1)
		if sec < 20 {
			b.AddSample(b.AddSeries(labels.FromStrings("__name__", "gone", "zone", "eu"), nil), int64(sec)*1000, 1)
		}
		_, err := db.Append(ctx, &b)
		require.NoError(t, err)
	}
	require.NoError(t, db.Compact(ctx, false))
	active := shardMetricSum(db, func(i int) int64 { return db.shards[i].Metrics().ActiveSeries.Load() })
	require.Equal(t, int64(1), active, "head GC dropped the persisted idle series")

	values := func(mint, maxt int64) []string {
		q, err := db.Querier(mint, maxt)
		require.NoError(t, err)
		defer q.Close()
		v, err := q.LabelValues(ctx, "__name__")
		require.NoError(t, err)
		return v
	}
	names := func(mint, maxt int64) []string {
		q, err := db.Querier(mint, maxt)
		require.NoError(t, err)
		defer q.Close()
		v, err := q.LabelNames(ctx)
		require.NoError(t, err)
		return v
	}
	require.Equal(t, []string{"gone", "live"}, values(0, 60_000))
	require.Equal(t, []string{"__name__", "job", "zone"}, names(0, 60_000))
	require.Equal(t, []string{"gone", "live"}, values(0, 5_000), "a block in range holds both")
	require.Empty(t, values(100_000, 200_000), "nothing is in this range")
	require.Empty(t, names(100_000, 200_000))

	q, err := db.Querier(0, 60_000)
	require.NoError(t, err)
	defer q.Close()
	st, err := q.Stats(ctx, 5)
	require.NoError(t, err)
	require.Equal(t, 2, st.NumSeries, "each series once, from head and blocks")
	require.Equal(t, 3, st.NumLabelNames)
	q2, err := db.Querier(100_000, 200_000)
	require.NoError(t, err)
	defer q2.Close()
	st, err = q2.Stats(ctx, 5)
	require.NoError(t, err)
	require.Zero(t, st.NumSeries)
}

// Before: SeriesSet.Err always returned nil, also when the set was used
// after its querier was closed or its context had ended.
func TestSeriesSet_Err(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 2})
	defer db.Close()
	var b stages.Batch
	for i := range 600 {
		b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)), nil), 1, 1)
	}
	_, err := db.Append(context.Background(), &b)
	require.NoError(t, err)
	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "m")

	ctx, cancel := context.WithCancel(context.Background())
	q, err := db.Querier(0, 10)
	require.NoError(t, err)
	ss, err := q.Select(ctx, m)
	require.NoError(t, err)
	require.True(t, ss.Next())
	cancel()
	n := 1
	for ss.Next() {
		n++
	}
	require.ErrorIs(t, ss.Err(), context.Canceled)
	require.Less(t, n, 600)
	require.NoError(t, q.Close())

	q, err = db.Querier(0, 10)
	require.NoError(t, err)
	ss, err = q.Select(context.Background(), m)
	require.NoError(t, err)
	require.NoError(t, q.Close())
	require.False(t, ss.Next())
	require.ErrorContains(t, ss.Err(), "querier was closed")

	q, err = db.Querier(0, 10)
	require.NoError(t, err)
	defer q.Close()
	ss, err = q.Select(context.Background(), m)
	require.NoError(t, err)
	n = 0
	for ss.Next() {
		n++
	}
	require.NoError(t, ss.Err())
	require.Equal(t, 600, n)
}

// A Select reads the head in pieces; head cuts and appends running between
// the pieces must not make it lose or duplicate samples: each series reads
// back as 1..k contiguous, with k at least the rounds completed before the
// Select began.
func TestSelect_PiecewiseHeadConsistentUnderCuts(t *testing.T) {
	ctx := context.Background()
	o := blockTestOptions()
	o.Shards = 1
	o.BlockRange = 200 * time.Millisecond
	o.CompactionRanges = []time.Duration{200 * time.Millisecond}
	db := openTest(t, t.TempDir(), o)
	defer db.Close()
	const nSeries = 12 * headPieceSeries
	lsets := make([]labels.Labels, nSeries)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))
	}
	var rounds atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var b stages.Batch
		for r := int64(1); ; r++ {
			select {
			case <-stop:
				return
			default:
			}
			b.Reset()
			for i := range lsets {
				b.AddSample(b.AddSeries(lsets[i], nil), r*10, float64(r))
			}
			if _, err := db.Append(ctx, &b); err != nil {
				t.Error(err)
				return
			}
			rounds.Store(r)
			if r%5 == 0 {
				if err := db.Compact(ctx, true); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	deadline := time.Now().Add(2 * time.Second)
	selects := 0
	for time.Now().Before(deadline) || selects < 5 {
		before := rounds.Load()
		q, err := db.Querier(0, 1<<40)
		require.NoError(t, err)
		ss, err := q.Select(ctx, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
		require.NoError(t, err)
		if before > 0 {
			require.Equal(t, nSeries, ss.Len())
		}
		var it *SampleIterator
		for ss.Next() {
			it = ss.At().Iterator(it)
			k := int64(0)
			for it.Next() {
				ts, _ := it.At()
				k++
				require.Equal(t, k*10, ts, "series %s: samples contiguous", ss.At().Labels())
			}
			require.NoError(t, it.Err())
			require.GreaterOrEqual(t, k, before, "series %s", ss.At().Labels())
		}
		require.NoError(t, ss.Err())
		require.NoError(t, q.Close())
		selects++
	}
	close(stop)
	wg.Wait()
	t.Logf("%d selects over %d rounds, %d blocks cut, %d piecewise reads restarted", selects, rounds.Load(), db.shards[0].Metrics().BlocksCut.Load(), selectRestarts.Load())
}

// A head cut published between two pieces of a head read restarts the
// read, which then sees the new block: nothing is lost (the head chunks
// the cut persisted are hidden from the later pieces).
func TestSelect_RestartsAfterHeadCutBetweenPieces(t *testing.T) {
	ctx := context.Background()
	o := blockTestOptions()
	o.Shards = 1
	o.BlockRange = 100 * time.Millisecond
	o.CompactionRanges = []time.Duration{100 * time.Millisecond}
	db := openTest(t, t.TempDir(), o)
	defer db.Close()
	const nSeries = 3 * headPieceSeries
	var b stages.Batch
	for r := int64(1); r <= 30; r++ {
		b.Reset()
		for i := range nSeries {
			b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)), nil), r*10, float64(r))
		}
		_, err := db.Append(ctx, &b)
		require.NoError(t, err)
	}
	cuts := 0
	testBetweenPieces = func() {
		if cuts == 0 {
			cuts++
			require.NoError(t, db.Compact(ctx, true))
		}
	}
	defer func() { testBetweenPieces = nil }()
	restarts := selectRestarts.Load()
	q, err := db.Querier(0, 1<<40)
	require.NoError(t, err)
	defer q.Close()
	ss, err := q.Select(ctx, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	require.NoError(t, err)
	require.Equal(t, int64(1), selectRestarts.Load()-restarts, "the cut restarted the read")
	require.Positive(t, db.shards[0].Metrics().BlocksCut.Load())
	require.Equal(t, nSeries, ss.Len())
	var it *SampleIterator
	for ss.Next() {
		it = ss.At().Iterator(it)
		k := int64(0)
		for it.Next() {
			ts, _ := it.At()
			k++
			require.Equal(t, k*10, ts)
		}
		require.Equal(t, int64(30), k, "series %s", ss.At().Labels())
	}
	require.NoError(t, ss.Err())
}

// Before: SampleIterator.reset zeroed its chunk iterator, dropping the
// decode buffers of decimal chunks (compacted blocks), so iterating every
// series of a set with one reused iterator allocated them again per series
// and per chunk (27 % of a query profile was growslice under Next).
func TestSampleIterator_ReuseDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, t.TempDir(), blockTestOptions())
	defer db.Close()
	appendSeconds(t, db, 20, 0, 300, map[string][]sample{})
	require.NoError(t, db.Compact(ctx, true))
	q, err := db.Querier(0, 300_000)
	require.NoError(t, err)
	defer q.Close()
	ss, err := q.Select(ctx, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	require.NoError(t, err)
	require.Equal(t, 20, ss.Len())
	decimal := 0
	for i := range ss.Len() {
		for _, c := range ss.Series(i).Chunks() {
			if c.Enc != chunkstore.EncXOR {
				decimal++
			}
		}
	}
	require.NotZero(t, decimal, "the test needs compacted (decimal) chunks")
	var it *SampleIterator
	n := 0
	iterate := func() {
		n = 0
		for i := range ss.Len() {
			it = ss.Series(i).Iterator(it)
			for it.Next() {
				n++
			}
			require.NoError(t, it.Err())
		}
	}
	iterate() // sizes the buffers
	allocs := minAllocsPerRun(5, iterate)
	require.Equal(t, 20*300, n)
	require.Zero(t, allocs, "allocations per pass over %d series", ss.Len())
}
