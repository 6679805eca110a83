package shard

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/stages"
)

// crashCopy copies the shard's directory as a crash would leave it (every
// acknowledged record is durable: send waits for it), from the shard
// goroutine with no background job running, and returns the copy.
func crashCopy(t *testing.T, s *Shard) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "crash")
	require.NoError(t, s.exec(t.Context(), func() error {
		s.settleJob()
		return exec.Command("cp", "-a", s.dir, dst).Run()
	}))
	return dst
}

func uniq(m map[string][]int64) map[string][]int64 {
	for k, v := range m {
		slices.Sort(v)
		m[k] = slices.Compact(v)
	}
	return m
}

// TestShard_LateSamples: samples older than their series' last sample and
// older than the head's lower bound are stored, queried with the rest,
// survive a crash and a clean restart, are persisted by the next cut into
// blocks (then no longer logged: nothing is read twice), and RejectLate
// restores the old rejections.
func TestShard_LateSamples(t *testing.T) {
	r := 2 * time.Hour.Milliseconds()
	s := openShard(t, t.TempDir(), Options{Now: fixedClock(boundsNow)})
	inbox, stop := runShard(t, s)
	a := labels.FromStrings("__name__", "a")
	b := labels.FromStrings("__name__", "b")
	liveScrape(t, s, inbox, a, boundsNow-4*r, boundsNow)
	require.NoError(t, s.Maintain(t.Context(), false))
	require.Greater(t, s.appendMinT, boundsNow-4*r, "cuts moved the head's lower bound")
	want := map[string][]int64{}
	for ts := boundsNow - 4*r; ts < boundsNow; ts += 15_000 {
		want[a.String()] = append(want[a.String()], ts)
	}
	// Late for a: 7 s late (between two scrapes) and before the lower bound.
	for _, ts := range []int64{boundsNow - 22_000, boundsNow - 4*r - 7_000, boundsNow - 3*r + 1} {
		rep := send(t, s, inbox, msg(a, smp(ts, 2)))
		require.Equal(t, 1, rep.Stats.Appended, "late sample at %d: %+v", ts, rep.Stats)
		want[a.String()] = append(want[a.String()], ts)
	}
	// Repeated: a duplicate; another value: a conflict.
	require.Equal(t, 1, send(t, s, inbox, msg(a, smp(boundsNow-22_000, 2))).Stats.Duplicates)
	require.Equal(t, 1, send(t, s, inbox, msg(a, smp(boundsNow-22_000, 3))).Stats.Conflicts)
	require.Equal(t, 1, send(t, s, inbox, msg(a, smp(boundsNow-15_000, 1))).Stats.Duplicates, "equal to an in-order sample")
	require.Equal(t, 1, send(t, s, inbox, msg(a, smp(boundsNow-15_000, 9))).Stats.Conflicts, "against an in-order sample")
	// A new series with a week of history in random order.
	rng := rand.New(rand.NewPCG(1, 2))
	var hist []int64
	for ts := boundsNow - 7*24*time.Hour.Milliseconds(); ts < boundsNow-6*24*time.Hour.Milliseconds(); ts += 60_000 {
		hist = append(hist, ts)
	}
	rng.Shuffle(len(hist), func(i, j int) { hist[i], hist[j] = hist[j], hist[i] })
	for i := 0; i < len(hist); i += 100 {
		m := msg(b)
		for _, ts := range hist[i:min(i+100, len(hist))] {
			m.Samples = append(m.Samples, smp(ts, float64(ts)))
		}
		rep := send(t, s, inbox, m)
		require.Equal(t, len(m.Samples), rep.Stats.Appended)
	}
	want[b.String()] = append([]int64(nil), hist...)
	want = uniq(want)
	require.Equal(t, want, uniq(allSamples(t, s)), "live")
	require.Equal(t, uint64(len(hist)+3), s.m.SamplesLate.Load(), "%d in the out-of-order head", s.ooo.n)

	// A crash: the WAL replays the late samples.
	crashed := crashCopy(t, s)
	c := openShard(t, crashed, Options{Now: fixedClock(boundsNow)})
	cin, cstop := runShard(t, c)
	require.Equal(t, want, uniq(allSamples(t, c)), "after a crash")
	_ = cin
	require.NoError(t, cstop())

	// A cut persists them: blocks (possibly overlapping), and the WAL
	// forgets them.
	require.NoError(t, s.Maintain(t.Context(), true))
	require.Zero(t, s.ooo.n)
	require.Positive(t, s.m.OOOBlocksCut.Load())
	got := allSamples(t, s)
	require.Equal(t, want, uniq(got), "after the cut")
	require.NoError(t, stop())
	s = openShard(t, s.dir, Options{Now: fixedClock(boundsNow)})
	_, stop = runShard(t, s)
	got = allSamples(t, s)
	require.Equal(t, want, uniq(got), "after a restart")
	for k := range got {
		require.Len(t, got[k], len(want[k]), "%s: no sample read twice (head and block)", k)
	}
	// Compaction merges the overlapping blocks.
	require.NoError(t, s.Maintain(t.Context(), false))
	require.Equal(t, want, uniq(allSamples(t, s)), "after compaction")
	require.NoError(t, stop())

	// RejectLate: today's rules.
	s = openShard(t, t.TempDir(), Options{Now: fixedClock(boundsNow), RejectLate: true})
	inbox, stop = runShard(t, s)
	liveScrape(t, s, inbox, a, boundsNow-r, boundsNow)
	require.Equal(t, 1, send(t, s, inbox, msg(a, smp(boundsNow-22_000, 2))).Stats.OutOfOrder)
	require.NoError(t, stop())
}

// TestShard_LateSamplesModel is the property test: random interleavings of
// in-order, late, historical and duplicate appends for a few series, with
// head cuts, forced cuts, compactions, clean restarts and crashes between
// them. Reading the shard (head and blocks, de-duplicated as the querier
// does) must always equal the model: the sorted set of accepted
// timestamps.
func TestShard_LateSamplesModel(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { testLateModel(t, seed) })
	}
}

func testLateModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	var clock atomic.Int64
	clock.Store(boundsNow)
	// HistoryBlockSamples 2: a range behind the head with two late
	// samples is written at once by a history cut.
	o := Options{Now: func() time.Time { return time.UnixMilli(clock.Load()) }, BlockRange: time.Hour, HistoryBlockSamples: 2}
	var history uint64
	s := openShard(t, t.TempDir(), o)
	inbox, stop := runShard(t, s)
	series := []labels.Labels{
		labels.FromStrings("__name__", "m", "i", "0"), labels.FromStrings("__name__", "m", "i", "1"),
		labels.FromStrings("__name__", "m", "i", "2"),
	}
	model := map[string]map[int64]bool{}
	last := map[string]int64{}
	var accepted [][2]int64 // (series index, t)
	check := func(what string) {
		t.Helper()
		want := map[string][]int64{}
		for k, ts := range model {
			for x := range ts {
				want[k] = append(want[k], x)
			}
		}
		require.Equal(t, uniq(want), uniq(allSamples(t, s)), what)
	}
	for op := range 300 {
		i := rng.IntN(len(series))
		k := series[i].String()
		var ts int64
		switch p := rng.IntN(100); {
		case p < 45: // in order, the clock follows
			ts = max(last[k], boundsNow) + 15_000
			clock.Store(max(clock.Load(), ts))
		case p < 65: // late: up to an hour
			ts = max(last[k], boundsNow) - rng.Int64N(time.Hour.Milliseconds())
		case p < 80: // historical: up to two days
			ts = clock.Load() - rng.Int64N(7*24*time.Hour.Milliseconds())
		case p < 88: // a duplicate of an accepted sample
			if len(accepted) == 0 {
				continue
			}
			x := accepted[rng.IntN(len(accepted))]
			i, ts = int(x[0]), x[1]
			k = series[i].String()
		case p < 93:
			require.NoError(t, s.Maintain(t.Context(), rng.IntN(2) == 0))
			continue
		case p < 96:
			history += s.m.HistoryBlocksCut.Load()
			require.NoError(t, stop())
			s = openShard(t, s.dir, o)
			inbox, stop = runShard(t, s)
			check(fmt.Sprintf("op %d: after a restart", op))
			continue
		default:
			dir := crashCopy(t, s)
			history += s.m.HistoryBlocksCut.Load()
			require.NoError(t, stop())
			s = openShard(t, dir, o)
			inbox, stop = runShard(t, s)
			check(fmt.Sprintf("op %d: after a crash", op))
			continue
		}
		// The value is a function of the timestamp: a repeat is a
		// duplicate, never a conflict.
		rep := send(t, s, inbox, msg(series[i], smp(ts, float64(ts%1000))))
		require.Zero(t, rep.Stats.Conflicts+rep.Stats.OutOfOrder+rep.Stats.TooOld, "op %d: %+v", op, rep.Stats)
		if model[k][ts] {
			// A repeat, in the head or persisted in a block: a no-op.
			require.Equal(t, 1, rep.Stats.Duplicates, "op %d: repeat of %d: %+v", op, ts, rep.Stats)
		}
		if rep.Stats.Appended == 1 {
			if model[k] == nil {
				model[k] = map[int64]bool{}
			}
			model[k][ts] = true
			accepted = append(accepted, [2]int64{int64(i), ts})
			last[k] = max(last[k], ts)
		} else {
			require.True(t, model[k][ts], "op %d: %d is a duplicate of nothing: %+v", op, ts, rep.Stats)
		}
		if op%50 == 0 {
			check(fmt.Sprintf("op %d", op))
		}
	}
	check("end")
	require.NoError(t, s.Maintain(t.Context(), true))
	check("after a forced cut")
	history += s.m.HistoryBlocksCut.Load()
	require.Positive(t, history, "history cuts ran")
	require.NoError(t, stop())
	_ = os.RemoveAll(s.dir)
	_ = stages.Sample{}
}

// TestShard_LateRepeatOfPersistedSample: a late sample at a timestamp a
// block holds for its series is a no-op with the same value (counted as a
// duplicate, not stored again) and a counted conflict with another value,
// as in-order repeats are; a deleted sample is held by no block. Before,
// both were stored again in the out-of-order head (Appended 1).
func TestShard_LateRepeatOfPersistedSample(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{BlockRange: 100 * time.Millisecond})
	inbox, stop := runShard(t, s)
	a := labels.FromStrings("__name__", "a")
	b := labels.FromStrings("__name__", "b")
	for ts := int64(0); ts < 300; ts += 10 {
		send(t, s, inbox, msg(a, smp(ts, float64(ts))))
		send(t, s, inbox, msg(b, smp(ts, float64(ts))))
	}
	require.NoError(t, s.Maintain(t.Context(), false))
	require.GreaterOrEqual(t, s.appendMinT, int64(100), "[0, 100) is in a block")
	rep := send(t, s, inbox, msg(a, smp(50, 50), smp(60, 61), smp(55, 1)))
	require.Equal(t, 1, rep.Stats.Duplicates, "%+v", rep.Stats)
	require.Equal(t, 1, rep.Stats.Conflicts, "%+v", rep.Stats)
	require.Equal(t, 1, rep.Stats.Appended, "55 is new: %+v", rep.Stats)
	require.Equal(t, 1, s.ooo.n, "only the new sample is stored")
	// Deleted in the block: a sample at 20 is new again.
	require.NoError(t, s.Delete(t.Context(), 20, 20, labels.MustNewMatcher(labels.MatchEqual, "__name__", "b")))
	require.Equal(t, 1, send(t, s, inbox, msg(b, smp(20, 7))).Stats.Appended)
	require.Equal(t, 1, send(t, s, inbox, msg(b, smp(30, 30))).Stats.Duplicates)
	require.NoError(t, stop())
}
