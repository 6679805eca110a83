package pipeline

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/stages"
)

// blockTestOptions use a 10 s block range so that a few hundred samples at
// 1 s spacing go through head cuts, compaction (10 s → 60 s → 840 s) and
// retention.
func blockTestOptions() Options {
	return Options{Shards: 2, BlockRange: 10 * time.Second, ChunkSamples: 5, HeadGCInterval: -1, Logger: zap.NewNop()}
}

// appendSeconds appends, for each t in [from, to) seconds, one sample to
// each of n series, and records them in want.
func appendSeconds(t *testing.T, db *DB, n int, from, to int, want map[string][]sample) {
	t.Helper()
	var b stages.Batch
	for sec := from; sec < to; sec++ {
		b.Reset()
		for i := range n {
			ls := labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))
			ts, v := int64(sec)*1000, float64(sec*100+i)
			b.AddSample(b.AddSeries(ls, nil), ts, v)
			want[ls.String()] = append(want[ls.String()], sample{ts, math.Float64bits(v)})
		}
		st, err := db.Append(context.Background(), &b)
		require.NoError(t, err)
		require.Equal(t, n, st.Appended, st.FirstErrText)
	}
}

func shardMetricSum(db *DB, f func(i int) int64) int64 {
	var s int64
	for i := range db.shards {
		s += f(i)
	}
	return s
}

func numBlocks(db *DB) int64 {
	return shardMetricSum(db, func(i int) int64 { return db.shards[i].Metrics().Blocks.Load() })
}

func filterOut(want map[string][]sample, key string, mint, maxt int64) {
	var kept []sample
	for _, s := range want[key] {
		if s.t < mint || s.t > maxt {
			kept = append(kept, s)
		}
	}
	want[key] = kept
}

func TestDB_BlocksLifecycle(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := openTest(t, dir, blockTestOptions())
	want := map[string][]sample{}
	appendSeconds(t, db, 20, 0, 200, want)
	require.NoError(t, db.Compact(ctx, false))

	cut := shardMetricSum(db, func(i int) int64 { return int64(db.shards[i].Metrics().BlocksCut.Load()) })
	compactions := shardMetricSum(db, func(i int) int64 { return int64(db.shards[i].Metrics().Compactions.Load()) })
	require.Greater(t, cut, int64(2*15), "about 18 ranges per shard were cut")
	require.Positive(t, compactions, "complete 60 s windows were compacted")
	require.Less(t, numBlocks(db), cut, "compaction reduced the block count")
	requireSameData(t, want, readAll(t, db), "head + blocks read back bit-exact")

	// Restart: blocks are reopened, the checkpointed WAL replays the rest.
	require.NoError(t, db.Close())
	db = openTest(t, dir, blockTestOptions())
	requireSameData(t, want, readAll(t, db), "read back")
	appendSeconds(t, db, 20, 200, 230, want)
	requireSameData(t, want, readAll(t, db), "read back")

	// Old samples in an already persisted range are stored (the shard's
	// out-of-order head) and read back with the rest.
	var b stages.Batch
	late := labels.FromStrings("__name__", "m", "i", "new")
	b.AddSample(b.AddSeries(late, nil), 1000, 1)
	st, err := db.Append(ctx, &b)
	require.NoError(t, err)
	require.Equal(t, 1, st.Appended)
	require.Empty(t, st.Rejects)
	want[late.String()] = []sample{{1000, math.Float64bits(1)}}
	requireSameData(t, want, readAll(t, db), "a late sample")

	// Deletion spans blocks and head, survives a restart and compaction.
	del := labels.FromStrings("__name__", "m", "i", "3").String()
	require.NoError(t, db.Delete(ctx, 50_000, 215_000, labels.MustNewMatcher(labels.MatchEqual, "i", "3")))
	filterOut(want, del, 50_000, 215_000)
	requireSameData(t, want, readAll(t, db), "read back")
	require.NoError(t, db.Close())
	db = openTest(t, dir, blockTestOptions())
	requireSameData(t, want, readAll(t, db), "tombstones survive a restart")
	require.NoError(t, db.CleanTombstones(ctx))
	require.NoError(t, db.Compact(ctx, false))
	requireSameData(t, want, readAll(t, db), "cleaned blocks hold exactly the undeleted data")

	// Snapshot: a consistent copy usable as a data directory.
	snapDir := filepath.Join(t.TempDir(), "snap")
	require.NoError(t, db.Snapshot(ctx, snapDir))
	snap := openTest(t, snapDir, Options{Logger: zap.NewNop()})
	requireSameData(t, want, readAll(t, snap), "read back")
	require.NoError(t, snap.Close())

	// Retention: blocks entirely older than 60 s before the newest sample go.
	require.NoError(t, db.Close())
	o := blockTestOptions()
	o.Retention = 60 * time.Second
	db = openTest(t, dir, o)
	require.NoError(t, db.Compact(ctx, false))
	got := readAll(t, db)
	for key, samples := range got {
		require.NotEmpty(t, samples, key)
		first := samples[0].t
		if key != del {
			require.LessOrEqual(t, first, int64(229_000-60_000), "%s: data inside the retention window is kept", key)
		}
		require.Greater(t, first, int64(0), "%s: the oldest block is gone", key)
		// What remains is exactly the tail of what was written.
		w := want[key]
		require.Equal(t, w[len(w)-len(samples):], samples, key)
	}
	require.NoError(t, db.Close())
}

func TestDB_HeadMemoryBoundCutsEarly(t *testing.T) {
	o := blockTestOptions()
	o.BlockRange = time.Hour
	o.HeadMaxBytes = 2 * 100 * 320 // about 100 series per shard
	db := openTest(t, t.TempDir(), o)
	want := map[string][]sample{}
	appendSeconds(t, db, 5, 0, 20, want)
	// A burst of 1,000 one-shot series pushes the head over its bound.
	var b stages.Batch
	for i := range 1000 {
		ls := labels.FromStrings("__name__", "burst", "i", fmt.Sprint(i))
		b.AddSample(b.AddSeries(ls, nil), 20_000, 1)
		want[ls.String()] = []sample{{20_000, math.Float64bits(1)}}
	}
	_, err := db.Append(ctx(), &b)
	require.NoError(t, err)
	appendSeconds(t, db, 5, 21, 40, want)
	require.NoError(t, db.Compact(ctx(), false))

	require.Positive(t, numBlocks(db), "the head was cut before spanning 1.5 block ranges")
	early := shardMetricSum(db, func(i int) int64 { return int64(db.shards[i].Metrics().HeadEarlyCuts.Load()) })
	require.Positive(t, early)
	require.Less(t, early, int64(10), "no cut loop: the bound is re-armed a quarter above the post-cut size")
	active := shardMetricSum(db, func(i int) int64 { return db.shards[i].Metrics().ActiveSeries.Load() })
	require.Less(t, active, int64(100), "the burst's series left the head once persisted")
	requireSameData(t, want, readAll(t, db), "burst data stays readable from blocks")
	require.NoError(t, db.Close())
}

func ctx() context.Context { return context.Background() }

// TestDB_QuarantineCorruptBlock damages a block's index: the block moves to
// quarantine/ and the database serves the rest.
func TestDB_QuarantineCorruptBlock(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, blockTestOptions())
	want := map[string][]sample{}
	appendSeconds(t, db, 3, 0, 40, want)
	require.NoError(t, db.Compact(ctx(), true))
	require.NoError(t, db.Close())

	idx, err := filepath.Glob(filepath.Join(dir, "shards", "*", "blocks", "*", "index"))
	require.NoError(t, err)
	require.NotEmpty(t, idx)
	victim := idx[0]
	f, err := os.OpenFile(victim, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("garbage!"), 16)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	db = openTest(t, dir, blockTestOptions())
	defer db.Close()
	q, err := filepath.Glob(filepath.Join(dir, "quarantine", "*"))
	require.NoError(t, err)
	require.Len(t, q, 1)
	require.True(t, strings.HasSuffix(q[0], filepath.Base(filepath.Dir(victim))))
	got := readAll(t, db)
	require.NotEmpty(t, got, "the other blocks are served")
	for k, s := range got {
		require.Subset(t, want[k], s)
	}
}

// requireSameData compares per series and reports the first difference
// briefly instead of dumping every sample.
func requireSameData(t *testing.T, want, got map[string][]sample, msg string) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if len(w) == 0 && !ok {
			continue
		}
		require.True(t, ok, "%s: series %s missing", msg, k)
		n := min(len(w), len(g))
		for i := range n {
			if w[i] != g[i] {
				require.Failf(t, msg, "series %s sample %d: want %+v got %+v (want %d samples, got %d)", k, i, w[i], g[i], len(w), len(g))
			}
		}
		if len(w) != len(g) {
			var extra []sample
			if len(g) > n {
				extra = g[n:min(len(g), n+3)]
			}
			require.Failf(t, msg, "series %s: want %d samples, got %d; first extra %+v; last wanted %+v", k, len(w), len(g), extra, w[max(0, n-1):n])
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && len(g) > 0 {
			require.Failf(t, msg, "unexpected series %s with %d samples", k, len(g))
		}
	}
}

// TestDB_QueriesDuringCompactionAndRetention runs appenders and queriers
// while head cuts, compactions and retention happen underneath (1 s blocks,
// 5 s retention). Every query must succeed and see, per series, strictly
// increasing timestamps whose values match what was written; -race checks
// the hand-off of blocks between the shard, its worker and readers.
func TestDB_QueriesDuringCompactionAndRetention(t *testing.T) {
	// The wall clock follows the writer (a live stream): retention rejects
	// samples older than 5 s before the clock.
	var clock atomic.Int64
	o := Options{Shards: 2, BlockRange: time.Second, ChunkSamples: 4, Retention: 5 * time.Second,
		HeadGCInterval: time.Millisecond, Logger: zap.NewNop(),
		Now: func() time.Time { return time.UnixMilli(clock.Load()) }}
	db := openTest(t, t.TempDir(), o)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		var b stages.Batch
		for ms := int64(0); ms < 20_000; ms += 100 {
			clock.Store(ms)
			b.Reset()
			for i := range 10 {
				b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)), nil), ms, float64(ms+int64(i)))
			}
			if _, err := db.Append(ctx(), &b); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				q, err := db.Querier(math.MinInt64, math.MaxInt64)
				if err != nil {
					t.Error(err)
					return
				}
				ss, err := q.Select(ctx(), labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
				if err != nil {
					t.Error(err)
					q.Close()
					return
				}
				var it *SampleIterator
				for ss.Next() {
					i, _ := strconv.Atoi(ss.At().Labels().Get("i"))
					it = ss.At().Iterator(it)
					last := int64(math.MinInt64)
					for it.Next() {
						ts, v := it.At()
						if ts <= last || v != float64(ts+int64(i)) {
							t.Errorf("series %d: sample (%d, %g) after %d", i, ts, v, last)
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
	require.NoError(t, db.Compact(ctx(), false))
	got := readAll(t, db)
	for k, s := range got {
		require.NotEmpty(t, s, k)
		require.Greater(t, s[0].t, int64(0), "%s: retention removed the oldest blocks", k)
		require.Equal(t, int64(19_900), s[len(s)-1].t, k)
	}
	cuts := shardMetricSum(db, func(i int) int64 { return int64(db.shards[i].Metrics().BlocksCut.Load()) })
	removed := shardMetricSum(db, func(i int) int64 { return int64(db.shards[i].Metrics().BlocksRetained.Load()) })
	require.Positive(t, cuts)
	require.Positive(t, removed)
	require.NoError(t, db.Close())
}
