package pipeline

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/shard"
	"github.com/silverback-tsdb/tsdb/stages"
)

// TestDB_LateSamplesQueriedMerged: late samples of a series (between its
// in-order samples, in the head and before the persisted range) are read
// through the querier merged, sorted and de-duplicated with the in-order
// head and the blocks, before and after the head cut that persists them.
func TestDB_LateSamplesQueriedMerged(t *testing.T) {
	now := time.Now().UnixMilli()
	db := openTest(t, t.TempDir(), Options{Shards: 2, BlockRange: time.Minute, Logger: zap.NewNop()})
	ctx := context.Background()
	ls := labels.FromStrings("__name__", "m", "job", "x")
	key := ls.String()
	want := map[string][]sample{}
	add := func(ts ...int64) {
		var b stages.Batch
		s := b.AddSeries(ls, nil)
		for _, x := range ts {
			b.AddSample(s, x, float64(x%977))
		}
		st, err := db.Append(ctx, &b)
		require.NoError(t, err)
		require.Equal(t, len(ts), st.Appended+st.Duplicates, st.FirstErrText)
		for _, x := range ts {
			want[key] = append(want[key], sample{x, math.Float64bits(float64(x % 977))})
		}
	}
	var in []int64
	for x := now - 10*time.Minute.Milliseconds(); x < now; x += 10_000 {
		in = append(in, x)
	}
	add(in...)
	require.NoError(t, db.Compact(ctx, false)) // cuts the oldest minutes
	// Late: between the in-order samples, and far behind (a backfill).
	rng := rand.New(rand.NewPCG(3, 4))
	var late []int64
	for x := now - 9*time.Minute.Milliseconds() + 5_000; x < now; x += 10_000 {
		late = append(late, x)
	}
	for x := now - 3*time.Hour.Milliseconds(); x < now-2*time.Hour.Milliseconds(); x += 30_000 {
		late = append(late, x)
	}
	rng.Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
	add(late...)
	add(late[:10]...) // repeated: duplicates
	sortSamples(want)
	requireSameData(t, want, readAll(t, db), "late samples in the out-of-order head")
	require.NoError(t, db.Compact(ctx, true))
	requireSameData(t, want, readAll(t, db), "late samples persisted")
	require.NoError(t, db.Close())
}

func sortSamples(m map[string][]sample) {
	for k, v := range m {
		seen := map[int64]bool{}
		out := v[:0]
		for _, s := range v {
			if !seen[s.t] {
				seen[s.t] = true
				out = append(out, s)
			}
		}
		for i := 1; i < len(out); i++ {
			for j := i; j > 0 && out[j].t < out[j-1].t; j-- {
				out[j], out[j-1] = out[j-1], out[j]
			}
		}
		m[k] = out
	}
}

// TestDB_LiveBackfill: a database scraping 10 series every 15 s (the clock
// follows the scrapes) while a week of history, at 1 min, for those series
// and for 5 others is imported in 1 h pieces in a random order. Every
// imported and scraped sample is read back, before and after the cuts and
// compactions; every block lies within one window of the smallest
// compaction level that holds its span (blocks end aligned to the levels).
// The history goes straight into blocks (history cuts: each 2 h range
// behind the head is written as soon as a piece fills it, not through the
// in-order head), and at every maintenance each shard's head is within
// its memory bound without an early cut: the bound is below what the
// out-of-order head would hold if the history waited for head cuts.
func TestDB_LiveBackfill(t *testing.T) {
	const hour = int64(3_600_000)
	start := time.Now().Truncate(time.Hour).UnixMilli()
	var clock atomic.Int64
	clock.Store(start)
	const headMax = 256 << 10 // per DB; the history alone is 151,200 samples, 3.6 MB in the out-of-order head
	o := Options{Shards: 2, Logger: zap.NewNop(), HeadMaxBytes: headMax, HistoryBlockSamples: 300,
		Now: func() time.Time { return time.UnixMilli(clock.Load()) }}
	db := openTest(t, t.TempDir(), o)
	ctx := context.Background()
	var live, other []labels.Labels
	for i := range 10 {
		live = append(live, labels.FromStrings("__name__", "up", "instance", fmt.Sprint(i)))
	}
	for i := range 5 {
		other = append(other, labels.FromStrings("__name__", "imported", "i", fmt.Sprint(i)))
	}
	want := map[string][]sample{}
	appendAll := func(b *stages.Batch) {
		st, err := db.Append(ctx, b)
		require.NoError(t, err)
		require.Equal(t, len(b.Samples), st.Appended, st.FirstErrText)
	}
	scrapeT := start
	scrape := func() {
		var b stages.Batch
		for _, ls := range live {
			v := float64(scrapeT % 977)
			b.AddSample(b.AddSeries(ls, nil), scrapeT, v)
			want[ls.String()] = append(want[ls.String()], sample{scrapeT, math.Float64bits(v)})
		}
		appendAll(&b)
		clock.Store(scrapeT)
		scrapeT += 15_000
	}
	pieces := make([]int64, 168) // hour h covers [start-(h+1)h, start-h h)
	for i := range pieces {
		pieces[i] = int64(i)
	}
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(pieces), func(i, j int) { pieces[i], pieces[j] = pieces[j], pieces[i] })
	for n, h := range pieces {
		var b stages.Batch
		for _, ls := range append(append([]labels.Labels(nil), live...), other...) {
			s := b.AddSeries(ls, nil)
			for ts := start - (h+1)*hour; ts < start-h*hour; ts += 60_000 {
				v := float64(ts % 977)
				b.AddSample(s, ts, v)
				want[ls.String()] = append(want[ls.String()], sample{ts, math.Float64bits(v)})
			}
		}
		appendAll(&b)
		for range 20 { // 5 minutes of scrapes per piece: 14 h in all
			scrape()
		}
		if n%4 == 3 {
			require.NoError(t, db.Compact(ctx, false))
			for _, s := range db.shards {
				require.NoError(t, s.View(ctx, func(v *shard.View) error {
					require.LessOrEqual(t, v.HeadBytes(), int64(headMax/len(db.shards)), "piece %d: shard %d head over its bound", n, s.ID())
					return nil
				}))
			}
		}
	}
	var history, early uint64
	for _, s := range db.shards {
		history += s.Metrics().HistoryBlocksCut.Load()
		early += s.Metrics().HeadEarlyCuts.Load()
	}
	require.Positive(t, history, "history cuts wrote the history")
	require.Zero(t, early, "the head never needed a cut for memory")
	sortSamples(want)
	requireSameData(t, want, readAll(t, db), "live")
	require.NoError(t, db.Compact(ctx, true))
	requireSameData(t, want, readAll(t, db), "after the forced cut and compactions")
	ranges := []int64{2 * hour, 12 * hour, 7 * 24 * hour}
	for _, s := range db.shards {
		require.NoError(t, s.View(ctx, func(v *shard.View) error {
			for _, b := range v.Blocks(nil, math.MinInt64, math.MaxInt64) {
				m := b.Meta()
				b.Release()
				ok := false
				for _, r := range ranges {
					if m.MaxTime-m.MinTime <= r && floorDivT(m.MinTime, r) == floorDivT(m.MaxTime-1, r) {
						ok = true
						break
					}
				}
				require.True(t, ok, "block [%d, %d) spans no window of a level", m.MinTime, m.MaxTime)
			}
			return nil
		}))
	}
	require.NoError(t, db.Close())
	db = openTest(t, db.Dir(), o)
	requireSameData(t, want, readAll(t, db), "after a restart")
	require.NoError(t, db.Close())
}

func floorDivT(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
