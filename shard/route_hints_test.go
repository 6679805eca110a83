package shard

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/stages"
)

// hintMsg builds a one-series message as the router does for a series it
// routed by its cache alone: a ref hint and no labels.
func hintMsg(ref, epoch uint32, samples ...stages.Sample) *stages.ShardBatch {
	return &stages.ShardBatch{Series: []stages.ShardSeries{{Ref: ref, Epoch: epoch & (1<<24 - 1)}}, Samples: samples}
}

// TestShard_HintsWithoutLabels: route hints come without labels (the
// route cache keeps none). A hint from an older epoch still names its
// series when that series was created at or before it (b); a hint to a
// ref freed and given to another series since (a's ref, now c's) must not
// write into c: the message fails with ErrStaleRoute and stores nothing,
// while the same ref at the epoch c was created in is c. The collection
// tells RefsFreed which refs it freed. Fails on a shard that trusts a ref
// whatever its epoch, and on one that takes only current-epoch hints.
func TestShard_HintsWithoutLabels(t *testing.T) {
	type freed struct {
		epoch uint32
		refs  []uint32
	}
	var got []freed
	s := openShard(t, t.TempDir(), Options{IdleSeriesTimeout: 1, RefsFreed: func(epoch uint32, refs []uint32) {
		got = append(got, freed{epoch, append([]uint32(nil), refs...)})
	}})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	a := labels.FromStrings("__name__", "a")
	b := labels.FromStrings("__name__", "b")
	c := labels.FromStrings("__name__", "c")

	r := s.apply(msg(a, smp(10, 1)))
	require.NoError(t, r.Err)
	refA, epoch := r.Refs[0], r.Epoch
	r = s.apply(msg(b, smp(1000, 1)))
	require.NoError(t, r.Err)
	refB := r.Refs[0]

	s.setPersistedUntil(100)
	require.Equal(t, 1, s.gc(), "a is idle and persisted")
	require.Equal(t, []freed{{epoch + 1, []uint32{refA}}}, got)
	r = s.apply(msg(c, smp(2000, 1)))
	require.NoError(t, r.Err)
	require.Equal(t, refA, r.Refs[0], "c takes a's ref")

	// b's hint from before the collection still names b.
	r = s.apply(hintMsg(refB, epoch, smp(1100, 2)))
	require.NoError(t, r.Err)
	require.Equal(t, []uint32{refB}, r.Refs)
	require.Equal(t, map[string][]int64{b.String(): {1000, 1100}}, selectT(t, s, "__name__", "b"))

	// a's hint must not reach c; with b's beside it nothing is stored.
	m := hintMsg(refA, epoch, smp(3000, 5))
	m.Series = append(m.Series, stages.ShardSeries{Ref: refB, Epoch: epoch, Src: 1})
	m.Samples = append(m.Samples, stages.Sample{Series: 1, T: 1200, V: 3})
	r = s.apply(m)
	require.ErrorIs(t, r.Err, stages.ErrStaleRoute)
	require.Equal(t, []uint32{stages.RefStale, 0}, r.Refs)
	require.Equal(t, map[string][]int64{c.String(): {2000}}, selectT(t, s, "__name__", "c"))
	require.Equal(t, map[string][]int64{b.String(): {1000, 1100}}, selectT(t, s, "__name__", "b"))
	require.Empty(t, selectT(t, s, "__name__", "a"))

	// With its labels, a's stale hint resolves to a new a.
	m = hintMsg(refA, epoch, smp(3000, 5))
	m.Series[0].Labels = a
	r = s.apply(m)
	require.NoError(t, r.Err)
	require.NotEqual(t, refA, r.Refs[0])
	require.Equal(t, map[string][]int64{a.String(): {3000}}, selectT(t, s, "__name__", "a"))

	// The ref at the epoch c was created in is c.
	r = s.apply(hintMsg(refA, epoch+1, smp(2100, 1)))
	require.NoError(t, r.Err)
	require.Equal(t, map[string][]int64{c.String(): {2000, 2100}}, selectT(t, s, "__name__", "c"))

	// A reject's text names a routed series by the head's labels.
	r = s.apply(hintMsg(refA, epoch+1, smp(2100, 7)))
	require.NoError(t, r.Err)
	require.Equal(t, 1, r.Stats.Conflicts)
	require.Len(t, r.Stats.Rejects, 1)
	require.Contains(t, r.Stats.Rejects[0].Detail, `{__name__="c"}`)
}
