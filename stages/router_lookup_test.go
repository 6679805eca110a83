package stages

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// TestRouter_LookupRouteTravels: a series added with the route a parser
// looked up is split without a second lookup, to the same shard and ref
// hint, and still routes after its cache entry is evicted.
func TestRouter_LookupRouteTravels(t *testing.T) {
	r := NewRouter(RouterOptions{Shards: 2})
	msgs := newMsgs(2)
	var sc SplitScratch
	key := []byte("Icpu,host=a\x00usage")
	lset := labels.FromStrings("__name__", "cpu_usage", "host", "a")
	b := &Batch{}
	_, ok := r.Lookup(key)
	require.False(t, ok)
	b.AddSample(b.AddSeries(lset, key), 1, 1)
	require.NoError(t, r.Split(b, msgs, &sc))
	wantShard := -1
	for shard, m := range msgs {
		if len(m.Series) == 0 {
			continue
		}
		wantShard = shard
		reply := ShardReply{Epoch: 3, Refs: []uint32{7}}
		r.Learn(b, shard, m, &reply, &sc)
	}
	rt, ok := r.Lookup(key)
	require.True(t, ok)
	require.Equal(t, uint32(7), rt.e.ref)

	// Evict everything: the route the parser holds still routes.
	r.cache.reset()
	b.Reset()
	b.AddSample(b.AddRouted(rt, key), 2, 2)
	require.NoError(t, r.Split(b, msgs, &sc))
	require.Zero(t, sc.Stats.InvalidSeries)
	require.Len(t, msgs[wantShard].Series, 1)
	ss := msgs[wantShard].Series[0]
	require.True(t, ss.Labels.IsEmpty(), "no labels: the shard has them")
	require.Equal(t, uint32(7), ss.Ref)
	require.Equal(t, uint32(3), ss.Epoch)

	// A labels-only route is an ordinary labelled series.
	b.Reset()
	b.AddSample(b.AddRouted(RouteOfLabels(lset), []byte("other key")), 3, 3)
	require.NoError(t, r.Split(b, msgs, &sc))
	require.Len(t, msgs[wantShard].Series, 1)
	require.Zero(t, msgs[wantShard].Series[0].Ref, "no hint without a cache entry")

	allocs := testing.AllocsPerRun(20, func() {
		b.Reset()
		b.AddSample(b.AddRouted(rt, key), 4, 4)
		if err := r.Split(b, msgs, &sc); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}
