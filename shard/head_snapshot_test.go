package shard

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/stages"
)

// runShard starts Run on s and returns its inbox and a stop function that
// closes the inbox (a clean shutdown) and returns Run's error.
func runShard(t *testing.T, s *Shard) (chan *stages.ShardBatch, func() error) {
	t.Helper()
	inbox := make(chan *stages.ShardBatch)
	done := make(chan error, 1)
	go func() { done <- s.Run(inbox, 0) }()
	return inbox, func() error { close(inbox); return <-done }
}

// send applies m through the inbox, as the pipeline does, and waits for
// durability.
func send(t *testing.T, s *Shard, inbox chan *stages.ShardBatch, m *stages.ShardBatch) stages.ShardReply {
	t.Helper()
	m.Reply = make(chan stages.ShardReply, 1)
	inbox <- m
	r := <-m.Reply
	require.NoError(t, r.Err)
	require.NoError(t, s.WaitDurable(t.Context(), r.WALSeq))
	return r
}

// allSamples reads every series' timestamps through a View (head and
// blocks), keyed by series.
func allSamples(t *testing.T, s *Shard) map[string][]int64 {
	t.Helper()
	out := map[string][]int64{}
	require.NoError(t, s.View(t.Context(), func(v *View) error {
		bm, err := v.Postings(labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
		if err != nil {
			return err
		}
		it := bm.Iterator()
		for it.HasNext() {
			ref := it.Next()
			ls, _ := v.Labels(ref)
			ts, err := rvRead(s, ref)
			if err != nil {
				return err
			}
			out[ls.String()] = append(out[ls.String()], ts...)
		}
		for _, b := range v.Blocks(nil, math.MinInt64, math.MaxInt64) {
			bm, err := b.Postings(labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
			if err != nil {
				b.Release()
				return err
			}
			bit := bm.Iterator()
			for bit.HasNext() {
				ls, _, err := b.Series(bit.Next(), nil)
				if err != nil {
					b.Release()
					return err
				}
				out[ls.String()] = append(out[ls.String()], rvBlockSamples(t, b, ls)...)
			}
			b.Release()
		}
		return nil
	}))
	for k := range out {
		slicesSort(out[k])
	}
	return out
}

func slicesSort(s []int64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestShard_HeadSnapshotRestart: a clean shutdown writes a head snapshot; the
// next Open restores the head from it without replaying samples; after more
// appends, head cuts and an unclean stop (no snapshot), a full replay gives
// the same data again.
func TestShard_HeadSnapshotRestart(t *testing.T) {
	dir := t.TempDir()
	o := Options{ChunkSamples: 4, BlockRange: 50 * time.Millisecond}
	series := make([]labels.Labels, 5)
	for i := range series {
		series[i] = labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))
	}
	want := map[string][]int64{}
	appendRange := func(s *Shard, inbox chan *stages.ShardBatch, from, to int64) {
		for ts := from; ts < to; ts++ {
			send(t, s, inbox, rvMsg(series, ts, func(i int) float64 { return float64(i) }))
			for _, ls := range series {
				want[ls.String()] = append(want[ls.String()], ts)
			}
		}
	}

	s := openShard(t, dir, o)
	inbox, stop := runShard(t, s)
	appendRange(s, inbox, 0, 30)
	require.NoError(t, stop())
	require.FileExists(t, filepath.Join(dir, headSnapshotName))

	// A leftover from a shutdown that died while writing a snapshot is
	// removed and ignored.
	require.NoError(t, os.WriteFile(filepath.Join(dir, headSnapshotName+".tmp"), []byte("partial"), 0o644))
	s = openShard(t, dir, o)
	require.NoFileExists(t, filepath.Join(dir, headSnapshotName+".tmp"))
	require.Equal(t, uint64(1), s.m.SnapshotLoads.Load())
	require.Zero(t, s.m.ReplayedSamples.Load(), "nothing replayed from the WAL")
	// It stays: a crash before the next snapshot loads it again.
	require.FileExists(t, filepath.Join(dir, headSnapshotName))
	inbox, stop = runShard(t, s)
	require.Equal(t, want, allSamples(t, s))
	appendRange(s, inbox, 30, 200) // spans several 50 ms block ranges: head cuts run
	require.NoError(t, s.Maintain(t.Context(), false))
	require.Equal(t, want, allSamples(t, s))
	require.Positive(t, s.m.BlocksCut.Load())
	// An unclean stop: run a clean one, then delete the snapshot, which is
	// what a crash leaves (the WAL is intact either way).
	require.NoError(t, stop())
	require.NoError(t, os.Remove(filepath.Join(dir, headSnapshotName)))

	s = openShard(t, dir, o)
	require.Zero(t, s.m.SnapshotLoads.Load())
	_, stop = runShard(t, s)
	require.Equal(t, want, allSamples(t, s), "full replay after the snapshot run")
	require.NoError(t, stop())

	// A damaged snapshot is ignored (full replay).
	path := filepath.Join(dir, headSnapshotName)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)/2] ^= 0xff
	require.NoError(t, os.WriteFile(path, b, 0o644))
	s = openShard(t, dir, o)
	require.Zero(t, s.m.SnapshotLoads.Load())
	_, stop = runShard(t, s)
	require.Equal(t, want, allSamples(t, s), "damaged snapshot: full replay")
	require.NoError(t, stop())
}

// TestShard_HeadSnapshotOptionsChange: the snapshot of a shard run with
// 120-sample chunks and a 2 h block range, loaded by one with 5-sample
// chunks and a 20 ms range (what the crash test does between rounds), keeps
// every sample through head cuts.
func TestShard_HeadSnapshotOptionsChange(t *testing.T) {
	dir := t.TempDir()
	series := []labels.Labels{labels.FromStrings("__name__", "fixed", "i", "0")}
	want := map[string][]int64{}
	appendRange := func(s *Shard, inbox chan *stages.ShardBatch, from, to int64) {
		for ts := from; ts < to; ts++ {
			send(t, s, inbox, rvMsg(series, ts, func(i int) float64 { return float64(ts) }))
			want[series[0].String()] = append(want[series[0].String()], ts)
		}
	}
	child := Options{ChunkSamples: 5, BlockRange: 20 * time.Millisecond}
	s := openShard(t, dir, child)
	inbox, stop := runShard(t, s)
	appendRange(s, inbox, 0, 5)
	require.NoError(t, stop())
	require.NoError(t, os.Remove(filepath.Join(dir, headSnapshotName))) // as if killed

	s = openShard(t, dir, Options{ChunkSamples: 120, BlockRange: child.BlockRange}) // same range, other chunk size
	_, stop = runShard(t, s)
	require.NoError(t, stop()) // writes the snapshot

	s = openShard(t, dir, child)
	require.Equal(t, uint64(1), s.m.SnapshotLoads.Load())
	inbox, stop = runShard(t, s)
	appendRange(s, inbox, 5, 40)
	require.NoError(t, s.Maintain(t.Context(), false))
	require.Equal(t, want, allSamples(t, s))
	require.NoError(t, stop())
}

// TestShard_HeadSnapshotAfterLostCut: a child cuts the head (WAL rotated,
// appendMinT moved) and dies before the block is published; a parent with
// default options replays, closes cleanly (snapshot); the next child loads
// the snapshot, appends and cuts. Every sample must survive.
func TestShard_HeadSnapshotAfterLostCut(t *testing.T) {
	dir := t.TempDir()
	series := []labels.Labels{labels.FromStrings("__name__", "fixed", "i", "0"), labels.FromStrings("__name__", "fixed", "i", "1")}
	want := map[string][]int64{}
	appendRange := func(s *Shard, inbox chan *stages.ShardBatch, from, to int64) {
		for ts := from; ts < to; ts++ {
			send(t, s, inbox, rvMsg(series, ts, func(i int) float64 { return float64(ts) }))
			for _, ls := range series {
				want[ls.String()] = append(want[ls.String()], ts)
			}
		}
	}
	child := Options{ChunkSamples: 5, BlockRange: 20 * time.Millisecond}
	s := openShard(t, dir, child)
	for ts := int64(0); ts < 31; ts++ {
		r := s.apply(rvMsg(series, ts, func(i int) float64 { return float64(ts) }))
		require.NoError(t, r.Err)
		require.NoError(t, s.WaitDurable(t.Context(), r.WALSeq))
		for _, ls := range series {
			want[ls.String()] = append(want[ls.String()], ts)
		}
	}
	_, ok := s.planHeadCut(false) // the cut starts; the process dies before it runs
	require.True(t, ok)
	require.NoError(t, s.CloseUnstarted())

	s = openShard(t, dir, Options{}) // the parent: defaults (2 h blocks)
	_, stop := runShard(t, s)
	require.Equal(t, want, allSamples(t, s))
	require.NoError(t, stop()) // writes the snapshot

	// Its chunks are aligned to 2 h: a 20 ms shard must not adopt them.
	s = openShard(t, dir, child)
	require.Zero(t, s.m.SnapshotLoads.Load(), "snapshot of another block range is refused")
	inbox, stop := runShard(t, s)
	require.Equal(t, want, allSamples(t, s), "after full replay")
	appendRange(s, inbox, 31, 60)
	require.Equal(t, want, allSamples(t, s), "after appends")
	require.NoError(t, s.Maintain(t.Context(), false))
	require.Equal(t, want, allSamples(t, s), "after cuts")
	require.NoError(t, stop())
	require.NoError(t, os.Remove(filepath.Join(dir, headSnapshotName)))
	s = openShard(t, dir, child)
	_, stop = runShard(t, s)
	require.Equal(t, want, allSamples(t, s), "full replay")
	require.NoError(t, stop())
}

// TestShard_HeadSnapshotFreeRefsOnce: a ref freed before the snapshot is
// handed out once after it loads (the free list was once built twice, by
// the snapshot load and by the replay after it, and one ref went to two
// series).
func TestShard_HeadSnapshotFreeRefsOnce(t *testing.T) {
	dir := t.TempDir()
	s := openShard(t, dir, Options{IdleSeriesTimeout: 1})
	inbox, stop := runShard(t, s)
	for i := range 3 {
		send(t, s, inbox, rvMsg([]labels.Labels{labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))}, int64(i), func(int) float64 { return 1 }))
	}
	require.NoError(t, s.exec(t.Context(), func() error {
		s.setPersistedUntil(0)
		require.Equal(t, 1, s.gcBefore(1)) // series i=0 (ref 1) goes
		return nil
	}))
	require.NoError(t, stop())

	s = openShard(t, dir, Options{})
	require.Equal(t, uint64(1), s.m.SnapshotLoads.Load())
	inbox, stop = runShard(t, s)
	seen := map[uint32]bool{2: true, 3: true}
	for i := range 3 {
		r := send(t, s, inbox, rvMsg([]labels.Labels{labels.FromStrings("__name__", "new", "i", fmt.Sprint(i))}, 10, func(int) float64 { return 1 }))
		require.False(t, seen[r.Refs[0]], "ref %d handed out twice", r.Refs[0])
		seen[r.Refs[0]] = true
	}
	require.NoError(t, stop())
}
