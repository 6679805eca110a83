package shard

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/walseg"
)

// TestShard_HeadCutCrashAtEveryStep: a head cut that persists in-order and
// late samples is stopped after each of its durable steps (WAL synced, each
// block of late samples written, the in-order block written, WAL
// checkpointed, WAL truncated): the shard directory is copied as a SIGKILL
// would leave it at that point, and each copy must reopen with every
// acknowledged sample, in-order and late. The batches are those of the
// pipeline's SIGKILL crash test (pipeline.TestCrash_AckedSamplesSurvive):
// batch k writes k to fixed series and -k-1 to series "late", whose first
// sample (-1) is in-order and every later one late, so the first cut is
// [-1, 0) with blocks of late samples ending at 0.
//
// Before the fix the cut wrote the late blocks first: a crash before the
// in-order block left a block of late samples ending at the boundary, Open
// took its end as the head's lower bound and skipped the WAL's in-order
// samples below it as persisted, so the acknowledged sample -1 of "late"
// was lost (the failure seen once in the SIGKILL test: "acked late sample
// -1 missing", killed during head cut [-1, 0)).
func TestShard_HeadCutCrashAtEveryStep(t *testing.T) {
	o := Options{BlockRange: 100 * time.Millisecond, ChunkSamples: 8, WAL: walseg.Options{Sync: walseg.SyncAlways}}
	dir := t.TempDir()
	s := openShard(t, dir, o)
	late := labels.FromStrings("__name__", "late")
	want := map[string][]int64{}
	batch := func(k int64) {
		for i := range 3 {
			ls := labels.FromStrings("__name__", "fixed", "i", strconv.Itoa(i))
			require.NoError(t, s.apply(msg(ls, smp(k, float64(k)))).Err)
			want[ls.String()] = append(want[ls.String()], k)
		}
		rep := s.apply(msg(late, smp(-k-1, float64(-k-1))))
		require.NoError(t, rep.Err)
		require.Equal(t, 1, rep.Stats.Appended, "batch %d", k)
		want[late.String()] = append(want[late.String()], -k-1)
	}
	for k := range int64(160) {
		batch(k)
	}
	var crashes []string
	var steps []string
	s.cutStep = func(step string) {
		// What was appended is acknowledged once durable.
		require.NoError(t, s.wal.Sync(t.Context()))
		dst := filepath.Join(t.TempDir(), "crash")
		require.NoError(t, exec.Command("cp", "-a", dir, dst).Run())
		crashes = append(crashes, dst)
		steps = append(steps, step)
	}
	j, ok := s.planHeadCut(false)
	require.True(t, ok, "a head cut is due")
	require.Equal(t, "head cut [-1, 0)", j.name)
	// Batches while the worker runs the cut: logged after the sealed
	// segment, their late samples in the out-of-order head.
	for k := int64(160); k < 170; k++ {
		batch(k)
	}
	apply, err := j.run(t.Context())
	require.NoError(t, err)
	require.NoError(t, apply(s))
	require.Equal(t, []string{"wal synced", "block written", "late block written", "late block written", "wal checkpointed", "wal truncated"}, steps)
	s.cutStep = nil
	require.NoError(t, s.CloseUnstarted())
	want = uniq(want)
	check := func(what, dir string) {
		t.Helper()
		c := openShard(t, dir, o)
		_, stop := runShard(t, c)
		got := uniq(allSamples(t, c))
		require.NoError(t, stop())
		require.Equal(t, want, got, what)
	}
	for i, d := range crashes {
		check(fmt.Sprintf("crash after step %d (%s)", i, steps[i]), d)
	}
	check("after the cut", dir)
}

// TestShard_HistoryCutCrashAtEveryStep: late samples of block ranges wholly
// behind the head that reach HistoryBlockSamples are written into one
// block per range by a history cut, while the ranges below the threshold
// stay in the out-of-order head; the cut is stopped after each durable step
// (WAL synced, each block written, WAL checkpointed and truncated) and
// every copy reopens with every acknowledged sample. After the cut the WAL
// no longer holds the samples the blocks hold: a restart replays only the
// rest into the out-of-order head.
func TestShard_HistoryCutCrashAtEveryStep(t *testing.T) {
	o := Options{BlockRange: 100 * time.Millisecond, ChunkSamples: 8, HistoryBlockSamples: 50,
		WAL: walseg.Options{Sync: walseg.SyncAlways}}
	dir := t.TempDir()
	s := openShard(t, dir, o)
	want := map[string][]int64{}
	add := func(ls labels.Labels, ts ...int64) {
		m := msg(ls)
		for _, x := range ts {
			m.Samples = append(m.Samples, smp(x, float64(x)))
			want[ls.String()] = append(want[ls.String()], x)
		}
		rep := s.apply(m)
		require.NoError(t, rep.Err)
		require.Equal(t, len(ts), rep.Stats.Appended)
	}
	live := labels.FromStrings("__name__", "live")
	for ts := int64(1000); ts < 1200; ts += 2 {
		add(live, ts)
	}
	require.NoError(t, rvRunCut(t, s, false))
	require.Equal(t, int64(1100), s.appendMinT)
	// History: ranges 0, 1 and 2 full (50 samples each, of two series),
	// range 5 with 20 samples (below the threshold), and range 11, which
	// the head's lower bound 1100 does not pass.
	hist := labels.FromStrings("__name__", "hist")
	for _, lo := range []int64{100, 0, 200} {
		var ts []int64
		for x := lo; x < lo+50; x += 2 {
			ts = append(ts, x)
		}
		add(hist, ts...)
		add(live, ts...)
	}
	add(hist, 501, 503, 505, 507, 509, 511, 513, 515, 517, 519)
	add(live, 501, 503, 505, 507, 509, 511, 513, 515, 517, 519)
	var odd []int64
	for x := int64(1101); x < 1198; x += 2 { // late: live's last sample is 1198
		odd = append(odd, x)
	}
	add(live, odd...)
	require.Equal(t, []int64{0, 1, 2}, s.historyRanges())
	var crashes, steps []string
	s.cutStep = func(step string) {
		require.NoError(t, s.wal.Sync(t.Context()))
		dst := filepath.Join(t.TempDir(), "crash")
		require.NoError(t, exec.Command("cp", "-a", dir, dst).Run())
		crashes = append(crashes, dst)
		steps = append(steps, step)
	}
	j, ok := s.planHistoryCut()
	require.True(t, ok)
	require.Equal(t, "history cut of 3 ranges in [0, 300)", j.name)
	add(hist, 150, 1) // during the cut: kept in the out-of-order head and the WAL
	apply, err := j.run(t.Context())
	require.NoError(t, err)
	require.NoError(t, apply(s))
	require.Equal(t, []string{"wal synced", "late block written", "late block written", "late block written", "wal checkpointed", "wal truncated"}, steps)
	require.Equal(t, uint64(3), s.m.HistoryBlocksCut.Load())
	require.Equal(t, int64(1100), s.appendMinT, "a history cut does not move the head's lower bound")
	rest := s.ooo.n
	require.Equal(t, 20+len(odd)+2, rest, "ranges 5 and 11 and the samples sent during the cut stay")
	_, ok = s.planHistoryCut()
	require.False(t, ok, "nothing more is due")
	s.cutStep = nil
	require.NoError(t, s.CloseUnstarted())
	want = uniq(want)
	check := func(what, dir string) *Shard {
		t.Helper()
		c := openShard(t, dir, o)
		_, stop := runShard(t, c)
		got := uniq(allSamples(t, c))
		require.NoError(t, stop())
		require.Equal(t, want, got, what)
		return c
	}
	for i, d := range crashes {
		check(fmt.Sprintf("crash after step %d (%s)", i, steps[i]), d)
	}
	c := check("after the cut", dir)
	require.Equal(t, rest, c.ooo.n, "replay puts back only what no block holds")
}
