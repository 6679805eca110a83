package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/loadgen"
	"github.com/silverback-tsdb/tsdb/shard"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openTest(tb testing.TB, dir string, o Options) *DB {
	tb.Helper()
	if o.Logger == nil {
		o.Logger = zaptest.NewLogger(tb)
	}
	db, err := Open(dir, o)
	require.NoError(tb, err)
	return db
}

type sample struct {
	t int64
	v uint64 // float64 bits
}

// readAll returns every sample of every series, keyed by the series string.
func readAll(tb testing.TB, db *DB) map[string][]sample {
	tb.Helper()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(tb, err)
	defer q.Close()
	ss, err := q.Select(context.Background(), labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	require.NoError(tb, err)
	out := map[string][]sample{}
	var prev labels.Labels
	var it *SampleIterator
	for ss.Next() {
		s := ss.At()
		if !prev.IsEmpty() {
			require.Negative(tb, labels.Compare(prev, s.Labels()), "series sorted")
		}
		prev = s.Labels()
		it = s.Iterator(it)
		var got []sample
		for it.Next() {
			t, v := it.At()
			got = append(got, sample{t, math.Float64bits(v)})
		}
		require.NoError(tb, it.Err())
		out[s.Labels().String()] = got
	}
	return out
}

// appendScrapes appends n scrapes of g, one batch per scrape, and returns
// what was appended per series.
func appendScrapes(tb testing.TB, db *DB, g *loadgen.NodeExporter, n int, want map[string][]sample) {
	tb.Helper()
	lsets := make([]labels.Labels, g.NumSeries())
	for i := range lsets {
		// The generator keeps node_exporter's empty label values; stored
		// series drop them (a label with an empty value is absent).
		lsets[i] = g.Labels(i).WithoutEmpty()
	}
	var buf []loadgen.Sample
	var b stages.Batch
	for range n {
		buf = g.Next(buf[:0])
		b.Reset()
		for _, s := range buf {
			b.AddSample(b.AddSeries(lsets[s.Series], nil), s.T, s.V)
			k := lsets[s.Series].String()
			want[k] = append(want[k], sample{s.T, math.Float64bits(s.V)})
		}
		st, err := db.Append(context.Background(), &b)
		require.NoError(tb, err)
		require.Equal(tb, len(buf), st.Appended, st.FirstErrText)
	}
}

func TestDB_AppendSelectReopen(t *testing.T) {
	dir := t.TempDir()
	// Small chunks so that most data sits in closed, mapped chunks.
	o := Options{Shards: 3, ChunkSamples: 7}
	db := openTest(t, dir, o)
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: 2, Seed: 1})
	require.NoError(t, err)
	want := map[string][]sample{}
	appendScrapes(t, db, g, 30, want)

	got := readAll(t, db)
	require.Equal(t, want, got)
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "Close is idempotent")

	// Replay rebuilds exactly the same data; appends continue after it.
	db = openTest(t, dir, Options{ChunkSamples: 7})
	require.Equal(t, 3, db.NumShards(), "shard count comes from shards.json")
	require.Equal(t, want, readAll(t, db))
	appendScrapes(t, db, g, 5, want)
	require.Equal(t, want, readAll(t, db))
	require.NoError(t, db.Close())
}

func TestDB_SeriesRules(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 2, RejectLate: true})
	defer db.Close()
	ctx := context.Background()
	ls := labels.FromStrings("__name__", "m", "job", "x")
	staleNaN := math.Float64frombits(0x7ff0000000000002)

	var b stages.Batch
	s := b.AddSeries(ls, nil)
	b.AddSample(s, 10, 1)
	b.AddSample(s, 20, 2)
	b.AddSample(s, 20, 2)        // same ts, same value: no-op
	b.AddSample(s, 20, 3)        // same ts, other value: conflict
	b.AddSample(s, 15, 9)        // older: out of order
	b.AddSample(s, 30, staleNaN) // stale marker kept bit-exact
	b.AddSample(s, 40, math.Copysign(0, -1))
	st, err := db.Append(ctx, &b)
	require.NoError(t, err)
	require.Equal(t, 4, st.Appended)
	require.Equal(t, 1, st.Duplicates)
	require.Equal(t, 1, st.Conflicts)
	require.Equal(t, 1, st.OutOfOrder)
	require.Contains(t, st.FirstErrText, "duplicate sample for timestamp 20")

	got := readAll(t, db)[ls.String()]
	require.Equal(t, []sample{{10, math.Float64bits(1)}, {20, math.Float64bits(2)}, {30, 0x7ff0000000000002}, {40, 1 << 63}}, got)

	// Re-sending the last stored sample is a no-op (retry safety).
	b.Reset()
	s = b.AddSeries(ls, nil)
	b.AddSample(s, 40, math.Copysign(0, -1))
	st, err = db.Append(ctx, &b)
	require.NoError(t, err)
	require.Equal(t, 1, st.Duplicates)
}

func TestDB_InvalidSeriesRejectedRestStored(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 2})
	defer db.Close()
	var b stages.Batch
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "ok"), nil), 1, 1)
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "bad", "0x", "y"), nil), 1, 1)
	st, err := db.Append(context.Background(), &b)
	require.NoError(t, err)
	require.Equal(t, 1, st.Appended)
	require.Equal(t, 1, st.InvalidSeries)
	require.Len(t, st.Rejects, 1)
	require.Equal(t, stages.RejectInvalidSeries, st.Rejects[0].Reason)
	require.Equal(t, uint32(1), st.Rejects[0].Series)
	require.Equal(t, uint32(1), st.Rejects[0].Sample)
	require.Contains(t, st.FirstErrText, `label name "0x"`)
	got := readAll(t, db)
	require.Len(t, got, 1)
	require.Contains(t, got, labels.FromStrings("__name__", "ok").String())
}

func TestDB_MaxActiveSeries(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 1, MaxActiveSeries: 3})
	defer db.Close()
	var b stages.Batch
	for i := range 5 {
		b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)), nil), 1, 1)
	}
	st, err := db.Append(context.Background(), &b)
	require.NoError(t, err)
	require.Equal(t, 3, st.Appended)
	require.Equal(t, 2, st.SeriesLimit)
	require.Contains(t, st.FirstErrText, "limit of 3 active series")
	// Existing series keep ingesting.
	b.Reset()
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m", "i", "0"), nil), 2, 2)
	st, err = db.Append(context.Background(), &b)
	require.NoError(t, err)
	require.Equal(t, 1, st.Appended)
}

func TestOpen_ShardCountAndLock(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, Options{Shards: 2})
	_, err := Open(dir, Options{Shards: 2})
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, db.Close())

	_, err = Open(dir, Options{Shards: 4})
	require.ErrorIs(t, err, ErrShardCount)
	require.ErrorContains(t, err, "created with 2 shards, options ask for 4")
	db = openTest(t, dir, Options{})
	require.Equal(t, 2, db.NumShards())
	require.NoError(t, db.Close())
}

func TestDB_AfterClose(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 1})
	require.NoError(t, db.Close())
	var b stages.Batch
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m"), nil), 1, 1)
	_, err := db.Append(context.Background(), &b)
	require.ErrorIs(t, err, ErrClosed)
	_, err = db.Querier(0, 1)
	require.ErrorIs(t, err, ErrClosed)
}

func TestDB_Overloaded(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 1, InboxSize: 1})
	defer db.Close()
	// Hold the shard goroutine inside a read, so its inbox fills.
	release := make(chan struct{})
	viewing := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = db.shards[0].View(context.Background(), func(*shard.View) error {
			close(viewing)
			<-release
			return nil
		})
	})
	<-viewing
	var b stages.Batch
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m"), nil), 1, 1)
	for i := range 2 { // first: queued but unanswered; second: inbox full
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := db.Append(ctx, &b)
		cancel()
		if i == 0 {
			require.ErrorIs(t, err, ErrUnconfirmed)
		} else {
			require.ErrorIs(t, err, ErrOverloaded)
		}
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	close(release)
	wg.Wait()
	// The shard catches up; the sample queued by the first call is stored
	// once, and a retry is a no-op.
	st, err := db.Append(context.Background(), &b)
	require.NoError(t, err)
	require.Equal(t, 1, st.Appended+st.Duplicates)
	require.Len(t, readAll(t, db), 1)
}

func TestDB_ConcurrentAppendQueryClose(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 2, ChunkSamples: 5, WAL: walseg.Options{Sync: walseg.SyncNone}})
	ctx := context.Background()
	var wg sync.WaitGroup
	const writers, batches = 3, 40
	for w := range writers {
		wg.Go(func() {
			var b stages.Batch
			for k := range batches {
				b.Reset()
				for i := range 20 {
					b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m", "w", fmt.Sprint(w), "i", fmt.Sprint(i)), nil), int64(k), float64(k))
				}
				if _, err := db.Append(ctx, &b); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 20 {
				q, err := db.Querier(0, math.MaxInt64)
				if err != nil {
					t.Error(err)
					return
				}
				ss, err := q.Select(ctx, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
				if err != nil {
					t.Error(err)
					q.Close()
					return
				}
				for ss.Next() {
					it := ss.At().Iterator(nil)
					last := int64(-1)
					for it.Next() {
						ts, v := it.At()
						if ts <= last || float64(ts) != v {
							t.Errorf("series %s: sample (%d, %g) after %d", ss.At().Labels(), ts, v, last)
						}
						last = ts
					}
					if it.Err() != nil {
						t.Error(it.Err())
					}
				}
				q.Close()
			}
		})
	}
	wg.Wait()
	got := readAll(t, db)
	require.Len(t, got, writers*20)
	for k, s := range got {
		require.Len(t, s, batches, k)
	}

	// Close while appends and queries are running: every Append either
	// succeeds or reports ErrClosed; nothing hangs or races.
	var wg2 sync.WaitGroup
	for w := range 2 {
		wg2.Go(func() {
			var b stages.Batch
			for k := batches; ; k++ {
				b.Reset()
				b.AddSample(b.AddSeries(labels.FromStrings("__name__", "late", "w", fmt.Sprint(w)), nil), int64(k), 1)
				if _, err := db.Append(ctx, &b); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					return
				}
			}
		})
	}
	wg2.Go(func() {
		for {
			q, err := db.Querier(0, math.MaxInt64)
			if err != nil {
				return
			}
			if _, err := q.Select(ctx, labels.MustNewMatcher(labels.MatchEqual, "__name__", "late")); err != nil && !errors.Is(err, shard.ErrClosed) {
				t.Error(err)
			}
			q.Close()
		}
	})
	time.Sleep(5 * time.Millisecond) // let the goroutines get going; not a synchronisation
	require.NoError(t, db.Close())
	wg2.Wait()
}

func TestQuerier_TimeRangeAndSeek(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 1, ChunkSamples: 4})
	defer db.Close()
	var b stages.Batch
	s := b.AddSeries(labels.FromStrings("__name__", "m"), nil)
	for ts := int64(0); ts < 100; ts += 10 {
		b.AddSample(s, ts, float64(ts))
	}
	_, err := db.Append(context.Background(), &b)
	require.NoError(t, err)

	q, err := db.Querier(25, 75)
	require.NoError(t, err)
	defer q.Close()
	ss, err := q.Select(context.Background(), labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	require.NoError(t, err)
	require.True(t, ss.Next())
	var ts []int64
	it := ss.At().Iterator(nil)
	for it.Next() {
		t, _ := it.At()
		ts = append(ts, t)
	}
	require.Equal(t, []int64{30, 40, 50, 60, 70}, ts)

	it = ss.At().Iterator(it)
	require.True(t, it.SeekTo(0))
	got, _ := it.At()
	require.Equal(t, int64(30), got)
	require.True(t, it.SeekTo(55))
	got, _ = it.At()
	require.Equal(t, int64(60), got)
	require.True(t, it.SeekTo(41), "seek never moves backwards")
	got, _ = it.At()
	require.Equal(t, int64(60), got)
	require.False(t, it.SeekTo(76))
	require.False(t, ss.Next())

	names, err := q.LabelNames(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"__name__"}, names)
	vals, err := q.LabelValues(context.Background(), "__name__")
	require.NoError(t, err)
	require.Equal(t, []string{"m"}, vals)
}

// TestDB_RejectsNameBatchIndexes: rejects from several shards come back with
// the caller's series and sample indexes, in batch order.
func TestDB_RejectsNameBatchIndexes(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 4, RejectLate: true})
	defer db.Close()
	ctx := context.Background()
	var b stages.Batch
	const n = 40
	for i := range n {
		b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)), nil), 100, float64(i))
	}
	_, err := db.Append(ctx, &b)
	require.NoError(t, err)

	// Now every even series gets an out-of-order sample and a conflicting
	// one, the odd ones a good sample; interleaved across shards.
	b.Reset()
	var want []stages.Reject
	for i := range n {
		s := b.AddSeries(labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)), nil)
		if i%2 == 0 {
			want = append(want, stages.Reject{Series: s, Sample: uint32(len(b.Samples)), T: 50, Reason: stages.RejectOutOfOrder})
			b.AddSample(s, 50, 1)
			want = append(want, stages.Reject{Series: s, Sample: uint32(len(b.Samples)), T: 100, Reason: stages.RejectConflict})
			b.AddSample(s, 100, -1)
		} else {
			b.AddSample(s, 200, 1)
		}
	}
	st, err := db.Append(ctx, &b)
	require.NoError(t, err)
	require.Equal(t, n/2, st.Appended)
	require.Equal(t, n/2, st.OutOfOrder)
	require.Equal(t, n/2, st.Conflicts)
	require.Len(t, st.Rejects, len(want))
	for i := range want {
		got := st.Rejects[i]
		require.NotEmpty(t, got.Detail)
		got.Detail = ""
		require.Equal(t, want[i], got, "reject %d", i)
	}
	require.Equal(t, st.Rejects[0].Detail, st.FirstErrText)
}
