package shard

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/stages"
)

// boundsNow is the fixed wall clock of the bounds tests (2026-05-28).
const boundsNow int64 = 1_780_000_000_000

func fixedClock(ms int64) func() time.Time { return func() time.Time { return time.UnixMilli(ms) } }

// liveScrape sends one sample every 15 s for series name over [from, to).
func liveScrape(t *testing.T, s *Shard, inbox chan *stages.ShardBatch, lset labels.Labels, from, to int64) int {
	t.Helper()
	appended := 0
	for ts := from; ts < to; ts += 15_000 {
		appended += send(t, s, inbox, msg(lset, smp(ts, 1))).Stats.Appended
	}
	return appended
}

// TestShard_ExtremeTimestamps: one sample at an extreme timestamp next to a
// live series is either rejected with its reason or stored and readable;
// the live series loses nothing; maintenance settles (Maintain returns, and
// a second round finds nothing to do). Before the bounds, t = MaxInt64 made
// 9,990 of 10,000 later live samples "too old" and Maintain gave up after
// 10,000 jobs; t = MinInt64 overflowed the boundary arithmetic.
func TestShard_ExtremeTimestamps(t *testing.T) {
	r := 2 * time.Hour.Milliseconds()
	for _, tc := range []struct {
		name      string
		t         int64
		maxFuture time.Duration
		retention time.Duration
		reason    stages.RejectReason // 0: stored
	}{
		{name: "MaxInt64", t: math.MaxInt64, reason: stages.RejectTooFarInFuture},
		{name: "MaxInt64/no-max-future", t: math.MaxInt64, maxFuture: -1, reason: stages.RejectTooFarInFuture},
		{name: "MaxTimestamp/no-max-future", t: MaxTimestamp, maxFuture: -1},
		{name: "one-day-ahead", t: boundsNow + 24*time.Hour.Milliseconds()},
		{name: "three-days-ahead", t: boundsNow + 72*time.Hour.Milliseconds(), reason: stages.RejectTooFarInFuture},
		{name: "MinInt64", t: math.MinInt64, reason: stages.RejectTooOld},
		{name: "MinTimestamp", t: MinTimestamp},
		{name: "zero", t: 0},
		{name: "minus-one", t: -1},
		{name: "minus-three-ranges", t: -3 * r},
		{name: "zero/retention-30d", t: 0, retention: 30 * 24 * time.Hour, reason: stages.RejectOlderThanRetention},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openShard(t, t.TempDir(), Options{Now: fixedClock(boundsNow), MaxFuture: tc.maxFuture, Retention: tc.retention})
			inbox, stop := runShard(t, s)
			live := labels.FromStrings("__name__", "live")
			x := labels.FromStrings("__name__", "x")
			n := liveScrape(t, s, inbox, live, boundsNow-4*time.Hour.Milliseconds(), boundsNow-2*time.Hour.Milliseconds())

			rep := send(t, s, inbox, msg(x, smp(tc.t, 7)))
			if tc.reason != 0 {
				require.Zero(t, rep.Stats.Appended)
				require.Equal(t, 1, rep.Stats.Count(tc.reason))
				require.Len(t, rep.Stats.Rejects, 1)
				require.Equal(t, tc.reason, rep.Stats.Rejects[0].Reason)
				require.Equal(t, tc.t, rep.Stats.Rejects[0].T)
				require.Contains(t, rep.Stats.Rejects[0].Detail, x.String())
			} else {
				require.Equal(t, 1, rep.Stats.Appended, "%+v", rep.Stats)
			}
			// The live series keeps ingesting up to the clock: nothing the
			// outlier did closes its range.
			more := liveScrape(t, s, inbox, live, boundsNow-2*time.Hour.Milliseconds(), boundsNow+1)
			require.Equal(t, int((2*time.Hour.Milliseconds())/15_000)+1, more, "live samples after the outlier")
			n += more

			require.NoError(t, s.Maintain(t.Context(), false))
			require.NoError(t, s.Maintain(t.Context(), true))
			cuts, comps := s.m.BlocksCut.Load(), s.m.Compactions.Load()
			require.LessOrEqual(t, cuts, uint64(6), "head cuts: one per range holding data")
			require.NoError(t, s.Maintain(t.Context(), false))
			require.Equal(t, cuts, s.m.BlocksCut.Load(), "maintenance settled: a second round cuts nothing")
			require.Equal(t, comps, s.m.Compactions.Load(), "maintenance settled: a second round compacts nothing")
			// After the forced cut the present is still open to appends.
			require.Equal(t, 1, send(t, s, inbox, msg(live, smp(boundsNow+15_000, 1))).Stats.Appended)
			n++

			got := allSamples(t, s)
			require.Len(t, got[live.String()], n)
			if tc.reason == 0 {
				require.Equal(t, []int64{tc.t}, got[x.String()])
			} else {
				require.Empty(t, got[x.String()])
			}
			require.NoError(t, stop())

			// And after a restart (WAL replay or head snapshot).
			s = openShard(t, s.dir, Options{Now: fixedClock(boundsNow), MaxFuture: tc.maxFuture, Retention: tc.retention})
			inbox, stop = runShard(t, s)
			got = allSamples(t, s)
			require.Len(t, got[live.String()], n)
			if tc.reason == 0 {
				require.Equal(t, []int64{tc.t}, got[x.String()])
			}
			require.NoError(t, s.Maintain(t.Context(), false))
			require.Equal(t, 1, send(t, s, inbox, msg(live, smp(boundsNow+30_000, 1))).Stats.Appended)
			require.NoError(t, stop())
		})
	}
}

// TestShard_OldSampleCostsOneCut: a sample at t = 0 in a head at the
// present costs one head cut, not one per empty block range from 1970 to
// now (before, background maintenance cut 2 h ranges for 56 years, spinning
// a core).
func TestShard_OldSampleCostsOneCut(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{Now: fixedClock(boundsNow)})
	inbox, stop := runShard(t, s)
	require.Equal(t, 1, send(t, s, inbox, msg(labels.FromStrings("__name__", "old"), smp(0, 1))).Stats.Appended)
	liveScrape(t, s, inbox, labels.FromStrings("__name__", "live"), boundsNow-time.Hour.Milliseconds(), boundsNow)
	require.NoError(t, s.Maintain(t.Context(), false))
	require.Equal(t, uint64(1), s.m.BlocksCut.Load(), "one cut for the old range; the live range is not due")
	require.Len(t, s.blocks, 1)
	require.Equal(t, [2]int64{0, 2 * time.Hour.Milliseconds()}, [2]int64{s.blocks[0].Meta().MinTime, s.blocks[0].Meta().MaxTime})
	require.NoError(t, stop())
}

// TestShard_FutureSampleDoesNotMoveWindow: a sample a day ahead of the
// clock neither triggers cuts of the present nor moves the head's lower
// bound past the clock; retention and GC do not measure age from it.
func TestShard_FutureSampleDoesNotMoveWindow(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{Now: fixedClock(boundsNow), Retention: 6 * time.Hour, IdleSeriesTimeout: time.Hour})
	inbox, stop := runShard(t, s)
	live := labels.FromStrings("__name__", "live")
	other := labels.FromStrings("__name__", "other")
	liveScrape(t, s, inbox, live, boundsNow-time.Hour.Milliseconds(), boundsNow-30*time.Minute.Milliseconds())
	liveScrape(t, s, inbox, other, boundsNow-time.Hour.Milliseconds(), boundsNow-30*time.Minute.Milliseconds())
	require.Equal(t, 1, send(t, s, inbox, msg(labels.FromStrings("__name__", "x"), smp(boundsNow+24*time.Hour.Milliseconds(), 1))).Stats.Appended)
	require.NoError(t, s.Maintain(t.Context(), false))
	require.Zero(t, s.m.BlocksCut.Load(), "nothing is due: the head spans 1 h up to the clock")
	require.Zero(t, s.m.SeriesRemoved.Load(), "no series is idle relative to the clock")
	// The present and the last half hour of both series stay open.
	liveScrape(t, s, inbox, live, boundsNow-30*time.Minute.Milliseconds(), boundsNow)
	require.NoError(t, s.Maintain(t.Context(), true))
	require.LessOrEqual(t, s.appendMinT, boundsNow, "a forced cut stops at the clock's range")
	require.Equal(t, 1, send(t, s, inbox, msg(other, smp(boundsNow, 1))).Stats.Appended)
	got := allSamples(t, s)
	require.Len(t, got[live.String()], 240)
	require.Len(t, got[other.String()], 121)
	require.Len(t, got[labels.FromStrings("__name__", "x").String()], 1)
	require.NoError(t, stop())
}

// TestShard_BoundsRejectsCounted: each bound has its reason, its counter
// and a detail naming the series.
func TestShard_BoundsRejectsCounted(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{Now: fixedClock(boundsNow), MaxFuture: time.Hour, Retention: 24 * time.Hour})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	a := labels.FromStrings("__name__", "a")
	day := 24 * time.Hour.Milliseconds()
	m := msg(a, smp(boundsNow-day-1, 1), smp(boundsNow-day, 2), smp(boundsNow+time.Hour.Milliseconds(), 3),
		smp(boundsNow+time.Hour.Milliseconds()+1, 4), smp(math.MinInt64, 5), smp(math.MaxInt64, 6))
	for i := range m.Samples {
		m.Samples[i].Src = uint32(i)
	}
	rep := s.apply(m)
	require.NoError(t, rep.Err)
	require.Equal(t, 2, rep.Stats.Appended)
	require.Equal(t, 2, rep.Stats.OlderThanRetention, "boundsNow-day-1 and MinInt64 (retention applies first)")
	require.Equal(t, 2, rep.Stats.TooFarInFuture)
	require.Equal(t, uint64(2), s.m.SamplesTooFarFuture.Load())
	require.Equal(t, uint64(2), s.m.SamplesOldRetention.Load())
	var srcs []uint32
	for _, rj := range rep.Stats.Rejects {
		srcs = append(srcs, rj.Sample)
		require.Contains(t, rj.Detail, a.String())
	}
	require.ElementsMatch(t, []uint32{0, 3, 4, 5}, srcs)
	require.Contains(t, rep.Stats.Rejects[1].Detail, "max-future")
}
