package pipeline

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

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
