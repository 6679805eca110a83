package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/stages"
)

// TestDB_RouteToDroppedSeries: the route cache keeps no labels, so a route
// must never write into another series after its series was dropped and
// its ref recycled. Head GC (here through Compact) tells the router the
// refs it freed, so the dropped series' key misses at once (fails if
// shard.Options.RefsFreed is not wired to Router.Forget); a route looked
// up before the drop fails its part with stages.ErrStaleRoute, also after
// the ref went to another series (c, which keeps only its own sample),
// and the batch with labels stores the sample into a new a.
func TestDB_RouteToDroppedSeries(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	db, err := Open(t.TempDir(), Options{Shards: 1, Logger: zap.NewNop(), IdleSeriesTimeout: time.Millisecond,
		Now: func() time.Time { return now }})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	ctx := context.Background()
	a := labels.FromStrings("__name__", "a")
	b := labels.FromStrings("__name__", "b")
	c := labels.FromStrings("__name__", "c")
	key := []byte("raw key of a")
	appendOne := func(lset labels.Labels, key []byte, ts int64) error {
		bt := &stages.Batch{}
		bt.AddSample(bt.AddSeries(lset, key), ts, 1)
		st, err := db.Append(ctx, bt)
		if err == nil {
			require.Equal(t, 1, st.Appended)
		}
		return err
	}
	require.NoError(t, appendOne(a, key, 1000))
	require.NoError(t, appendOne(b, nil, 900_000))
	rt, ok := db.Lookup(key)
	require.True(t, ok, "a's key is learnt")

	require.NoError(t, db.Compact(ctx, true)) // persists the head; GC drops idle a
	_, ok = db.Lookup(key)
	require.False(t, ok, "Forget removed the route to a's freed ref")

	routed := func(ts int64) error {
		bt := &stages.Batch{}
		bt.AddSample(bt.AddRouted(rt, key), ts, 2)
		_, err := db.Append(ctx, bt)
		return err
	}
	require.ErrorIs(t, routed(950_000), stages.ErrStaleRoute, "a's ref is free")
	require.NoError(t, appendOne(c, nil, 960_000)) // takes a's ref
	require.ErrorIs(t, routed(970_000), stages.ErrStaleRoute, "a's ref is c's now")
	require.NoError(t, appendOne(a, key, 980_000))

	q, err := db.Querier(0, 2_000_000)
	require.NoError(t, err)
	defer q.Close()
	got := map[string][]int64{}
	ss, err := q.Select(ctx, labels.MustNewMatcher(labels.MatchRegexp, "__name__", "a|c"))
	require.NoError(t, err)
	for ss.Next() {
		it := ss.At().Iterator(nil)
		for it.Next() {
			ts, _ := it.At()
			got[ss.At().Labels().Get("__name__")] = append(got[ss.At().Labels().Get("__name__")], ts)
		}
	}
	require.NoError(t, ss.Err())
	require.Equal(t, map[string][]int64{"a": {1000, 980_000}, "c": {960_000}}, got)
}
