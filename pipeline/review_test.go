package pipeline

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/stages"
)

var reviewSeed = flag.Uint64("review-seed", 7, "seed of TestReview_RandomModel")

// TestReview_RandomModel is a model-based regression test of the read path
// across head, head cuts, compaction, deletion and reopen: random appends
// (ascending time, random subsets of series), random deletes, maintenance
// and reopens, and after each step random queries, read with Next and with
// SeekTo, compared with a map model.
func TestReview_RandomModel(t *testing.T) {
	seed := *reviewSeed
	t.Logf("seed %d (replay with -review-seed)", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	ctx := context.Background()
	dir := t.TempDir()
	o := Options{Shards: 2, BlockRange: 100 * time.Millisecond, ChunkSamples: 7, HeadGCInterval: -1, Logger: zap.NewNop(),
		CompactionRanges: []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond}}
	db, err := Open(dir, o)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()

	const nSeries = 8
	lsets := make([]labels.Labels, nSeries)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))
	}
	model := make([]map[int64]uint64, nSeries)
	for i := range model {
		model[i] = map[int64]uint64{}
	}
	check := func(step int) {
		mint := rng.Int64N(1200) - 50
		maxt := mint + rng.Int64N(600)
		q, err := db.Querier(mint, maxt)
		require.NoError(t, err)
		defer q.Close()
		ss, err := q.Select(ctx, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
		require.NoError(t, err)
		got := map[string][][2]uint64{}
		seekGot := map[string][]int64{}
		seekTo := mint + rng.Int64N(maxt-mint+1)
		for ss.Next() {
			s := ss.At()
			it := s.Iterator(nil)
			for it.Next() {
				tt, v := it.At()
				got[s.Labels().String()] = append(got[s.Labels().String()], [2]uint64{uint64(tt), math.Float64bits(v)})
			}
			require.NoError(t, it.Err())
			it = s.Iterator(nil)
			for ok := it.SeekTo(seekTo); ok; ok = it.Next() {
				tt, _ := it.At()
				seekGot[s.Labels().String()] = append(seekGot[s.Labels().String()], tt)
			}
		}
		want := map[string][][2]uint64{}
		wantSeek := map[string][]int64{}
		for i, m := range model {
			var ts []int64
			for tt := range m {
				if tt >= mint && tt <= maxt {
					ts = append(ts, tt)
				}
			}
			slices.Sort(ts)
			for _, tt := range ts {
				want[lsets[i].String()] = append(want[lsets[i].String()], [2]uint64{uint64(tt), m[tt]})
				if tt >= seekTo {
					wantSeek[lsets[i].String()] = append(wantSeek[lsets[i].String()], tt)
				}
			}
		}
		require.Equal(t, want, got, "step %d query [%d, %d]", step, mint, maxt)
		require.Equal(t, wantSeek, seekGot, "step %d SeekTo(%d) in [%d, %d]", step, seekTo, mint, maxt)
	}

	now := int64(0)
	var b stages.Batch
	for step := range 200 {
		switch r := rng.IntN(20); {
		case r == 0:
			mint := rng.Int64N(now + 1)
			maxt := min(mint+rng.Int64N(100), now) // past only: a tombstone also hides later appends in its range
			i := rng.IntN(nSeries)
			t.Logf("step %d: delete i=%d [%d, %d]", step, i, mint, maxt)
			require.NoError(t, db.Delete(ctx, mint, maxt, labels.MustNewMatcher(labels.MatchEqual, "i", fmt.Sprint(i))))
			for tt := range model[i] {
				if tt >= mint && tt <= maxt {
					delete(model[i], tt)
				}
			}
		case r == 1:
			t.Logf("step %d: compact (now %d)", step, now)
			require.NoError(t, db.Compact(ctx, false))
		case r == 2:
			t.Logf("step %d: reopen (now %d)", step, now)
			require.NoError(t, db.Close())
			db, err = Open(dir, o)
			require.NoError(t, err)
		default:
			b.Reset()
			n := 0
			for range 1 + rng.IntN(5) {
				now += 1 + rng.Int64N(3)
				for i := range nSeries {
					if rng.IntN(3) == 0 {
						continue
					}
					v := float64(rng.IntN(1000)) / 10
					b.AddSample(b.AddSeries(lsets[i], nil), now, v)
					model[i][now] = math.Float64bits(v)
					n++
				}
			}
			st, err := db.Append(ctx, &b)
			require.NoError(t, err)
			require.Equal(t, n, st.Appended, st.FirstErrText)
		}
		check(step)
	}
}
