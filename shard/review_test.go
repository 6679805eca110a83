package shard

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/stages"
)

// Review tests: each drives the shard's internals on the test goroutine in
// the order the Run goroutine and the worker would interleave them, so the
// interleaving is deterministic.

// rvMsg builds a message with one sample at ts for each series.
func rvMsg(series []labels.Labels, ts int64, val func(i int) float64) *stages.ShardBatch {
	m := &stages.ShardBatch{}
	for i, ls := range series {
		h, _ := stages.HashLabels(nil, ls)
		m.Series = append(m.Series, stages.ShardSeries{Labels: ls, Hash: h})
		m.Samples = append(m.Samples, stages.Sample{Series: uint32(i), T: ts, V: val(i)})
	}
	return m
}

// rvStartJob hands j to a stand-in worker goroutine that runs it and leaves
// its result on s.results, as the shard's worker does, and marks the shard
// busy; the job's result is applied by whoever settles it.
func rvStartJob(t *testing.T, s *Shard, j job) {
	t.Helper()
	s.results = make(chan jobResult, 1)
	s.jobBusy = true
	apply, err := j.run(context.Background())
	s.results <- jobResult{name: j.name, apply: apply, err: err, undo: j.undo}
}

// rvRunCut plans a head cut and runs it as the worker then the shard
// goroutine would.
func rvRunCut(t *testing.T, s *Shard, force bool) error {
	t.Helper()
	j, ok := s.planHeadCut(force)
	require.True(t, ok, "a head cut is due")
	apply, err := j.run(context.Background())
	if err != nil {
		return err
	}
	return apply(s)
}

// rvRead returns the samples of series ref via the head View (as the
// querier reads it), with head tombstones applied.
func rvRead(s *Shard, ref uint32) ([]int64, error) {
	v := &View{s: s}
	chunks, _, err := v.Chunks(nil, nil, ref, math.MinInt64, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	del := v.Deleted(ref)
	var ts []int64
	var it chunkstore.Iterator
	for _, c := range chunks {
		it.Reset(c)
		for it.Next() {
			tt, _ := it.At()
			if !del.Contains(tt) {
				ts = append(ts, tt)
			}
		}
		if err := it.Err(); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// rvBlockSamples returns the samples of the series with labels ls in b, with
// the block's tombstones applied.
func rvBlockSamples(t *testing.T, b *block.Block, ls labels.Labels) []int64 {
	t.Helper()
	var ms []*labels.Matcher
	ls.Range(func(l labels.Label) { ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, l.Name, l.Value)) })
	bm, err := b.Postings(ms...)
	require.NoError(t, err)
	var ts []int64
	it := bm.Iterator()
	for it.HasNext() {
		ref := it.Next()
		_, metas, err := b.Series(ref, nil)
		require.NoError(t, err)
		del := b.Tombstones()[ref]
		for _, m := range metas {
			c, err := b.Chunk(m.Ref)
			require.NoError(t, err)
			var ci chunkstore.Iterator
			ci.Reset(c)
			for ci.Next() {
				tt, _ := ci.At()
				if !del.Contains(tt) {
					ts = append(ts, tt)
				}
			}
			require.NoError(t, ci.Err())
		}
	}
	return ts
}

// rvReleasedSetup appends [0, 150] to 30 series with a small head chunk
// file size and runs the head cut at 100: the files holding the chunks
// [0, 99] are released.
func rvReleasedSetup(t *testing.T) (*Shard, []labels.Labels, []uint32, func(int) float64) {
	const seed = 1
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	s := openShard(t, t.TempDir(), Options{BlockRange: 100 * time.Millisecond, HeadChunkFileSize: 4096})
	t.Cleanup(func() { require.NoError(t, s.CloseUnstarted()) })
	var series []labels.Labels
	for i := range 30 {
		series = append(series, labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)))
	}
	val := func(int) float64 { return rng.Float64() * 1e6 } // incompressible: a few chunks per file
	var refs []uint32
	for ts := int64(0); ts <= 150; ts++ {
		r := s.apply(rvMsg(series, ts, val))
		require.NoError(t, r.Err)
		require.Equal(t, len(series), r.Stats.Appended)
		refs = append(refs[:0], r.Refs...)
	}
	require.Greater(t, len(s.hc.files), 2, "the first chunks span several head chunk files")
	require.NoError(t, rvRunCut(t, s, false))
	require.Equal(t, int64(100), s.queryMinT)
	return s, series, refs, val
}

// TestReview_ReleasedHeadChunkFile_Query: after a head cut publishes,
// releaseBefore drops head chunk files whose chunks all end before the
// boundary. A series whose newest closed chunk (ms.lastClosed) is in such a
// file still has an open chunk after the boundary; View.Chunks dereferences
// lastClosed before looking at its maxT and fails the query.
func TestReview_ReleasedHeadChunkFile_Query(t *testing.T) {
	s, _, refs, _ := rvReleasedSetup(t)
	for i, ref := range refs {
		ts, err := rvRead(s, ref)
		require.NoError(t, err, "series %d", i)
		require.Len(t, ts, 51, "series %d: the head still holds [100, 150]", i)
	}
}

// TestReview_ReleasedHeadChunkFile_AppendPoisons: the same state; cutting
// the chunk [100, 199] reads lastClosed for its maxT, fails, and poisons the
// shard (every later append fails).
func TestReview_ReleasedHeadChunkFile_AppendPoisons(t *testing.T) {
	s, series, _, val := rvReleasedSetup(t)
	for ts := int64(151); ts <= 200; ts++ {
		r := s.apply(rvMsg(series, ts, val))
		require.NoError(t, r.Err, "append at %d", ts)
	}
}

// TestReview_ReleasedHeadChunkFile_NextCut: the same state; the next head
// cut's snapshot walk starts at lastClosed too and fails, so the head is
// never persisted again and the WAL never truncated.
func TestReview_ReleasedHeadChunkFile_NextCut(t *testing.T) {
	s, series, _, val := rvReleasedSetup(t)
	for ts := int64(151); ts <= 199; ts++ { // stay inside [100, 199]: no chunk cut
		require.NoError(t, s.apply(rvMsg(series, ts, val)).Err)
	}
	require.NoError(t, rvRunCut(t, s, true))
}

// TestReview_DeleteDuringCompactionLost: a Delete served by the shard
// goroutine while the worker compacts writes tombstones into the parent
// blocks only; replaceBlocks then retires the parents and publishes the
// compacted block without those tombstones, so deleted samples come back
// (durably: the parents are removed). publishCut carries late tombstones
// over for head cuts; replaceBlocks has no equivalent.
func TestReview_DeleteDuringCompactionLost(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{
		BlockRange:       100 * time.Millisecond,
		CompactionRanges: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond},
	})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	series := []labels.Labels{labels.FromStrings("__name__", "m", "i", "0"), labels.FromStrings("__name__", "m", "i", "1")}
	one := func(int) float64 { return 1 }
	for ts := int64(0); ts <= 250; ts++ {
		require.NoError(t, s.apply(rvMsg(series, ts, one)).Err)
		if ts == 150 || ts == 250 {
			require.NoError(t, rvRunCut(t, s, false))
		}
	}
	require.Len(t, s.blocks, 2)
	j, ok := s.planCompaction()
	require.True(t, ok)
	rvStartJob(t, s, j) // the worker merges the parents

	// Meanwhile the shard goroutine serves a Delete of series i=0: it lets
	// the compaction land first, then writes tombstones to its output.
	_, err := s.deleteLocked(math.MinInt64, math.MaxInt64, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "i", "0")})
	require.NoError(t, err)
	require.False(t, s.jobBusy)
	require.Len(t, s.blocks, 1)
	require.Empty(t, rvBlockSamples(t, s.blocks[0], series[0]), "deleted samples are back after compaction")
	require.Len(t, rvBlockSamples(t, s.blocks[0], series[1]), 200)
}

// TestReview_ReplayStaleTombstoneOnRecycledRef: a deleted series x is
// collected by GC and comes back under another ref. On replay, x's newer
// series record removes the old ref (h.remove(old)) but leaves
// s.tombs[old]; the old ref is then free, and the next new series that
// takes it inherits x's tombstone: its acknowledged samples are hidden, and
// the next head cut drops them for good.
func TestReview_ReplayStaleTombstoneOnRecycledRef(t *testing.T) {
	dir := t.TempDir()
	one := func(int) float64 { return 1 }
	x := labels.FromStrings("__name__", "x")
	y := labels.FromStrings("__name__", "y")
	z := labels.FromStrings("__name__", "z")

	s := openShard(t, dir, Options{IdleSeriesTimeout: 1})
	r := s.apply(rvMsg([]labels.Labels{x, y}, 10, one))
	require.NoError(t, r.Err)
	refX := r.Refs[0]
	_, err := s.deleteLocked(0, math.MaxInt64, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "x")})
	require.NoError(t, err)
	s.setPersistedUntil(100) // as after a head cut
	require.Equal(t, 2, s.gcBefore(1000))
	r = s.apply(rvMsg([]labels.Labels{x}, 2000, one))
	require.NoError(t, r.Err)
	require.NotEqual(t, refX, r.Refs[0], "x comes back under y's old ref")
	require.NoError(t, s.CloseUnstarted())

	s = openShard(t, dir, Options{})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	r = s.apply(rvMsg([]labels.Labels{z}, 5000, one))
	require.NoError(t, r.Err)
	require.Equal(t, 1, r.Stats.Appended)
	require.Equal(t, refX, r.Refs[0], "z takes x's old ref")
	require.Empty(t, s.tombs[r.Refs[0]], "z inherits x's tombstone")
	ts, err := rvRead(s, r.Refs[0])
	require.NoError(t, err)
	require.Equal(t, []int64{5000}, ts)
}

// TestReview_FailedHeadCutWedgesLaterCuts: planHeadCut moves appendMinT to
// the boundary before the job runs. When the job fails (here: the block
// cannot be created), finishJob only counts the error and promises a retry,
// but the next plan starts at the moved appendMinT while its snapshot still
// holds the chunks from queryMinT: the writer rejects them as out of the
// block's bounds, every later cut fails the same way, and the head and WAL
// grow without bound.
func TestReview_FailedHeadCutWedgesLaterCuts(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{BlockRange: 100 * time.Millisecond})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	series := []labels.Labels{labels.FromStrings("__name__", "m")}
	one := func(int) float64 { return 1 }
	for ts := int64(0); ts <= 150; ts++ {
		require.NoError(t, s.apply(rvMsg(series, ts, one)).Err)
	}
	// A transient I/O failure: the blocks directory is briefly unusable.
	require.NoError(t, os.Remove(s.blocksDir()))
	require.NoError(t, os.WriteFile(s.blocksDir(), nil, 0o644))
	j, ok := s.planHeadCut(false)
	require.True(t, ok)
	_, err := j.run(context.Background())
	require.Error(t, err)
	s.finishJob(jobResult{name: j.name, err: err, undo: j.undo})
	require.NoError(t, os.Remove(s.blocksDir()))
	require.NoError(t, os.Mkdir(s.blocksDir(), 0o755))

	for ts := int64(151); ts <= 250; ts++ {
		require.NoError(t, s.apply(rvMsg(series, ts, one)).Err)
	}
	require.NoError(t, rvRunCut(t, s, false), "the retry after the failure")
	require.NoError(t, rvRunCut(t, s, false), "and the next range")
	var got []int64
	for _, b := range s.blocks {
		got = append(got, rvBlockSamples(t, b, series[0])...)
	}
	require.Len(t, got, 200, "[0, 200) persisted")
}

// TestReview_DeleteDuringHeadCutLostOnCrash: a Delete served while the
// worker writes a head-cut block reaches only the head (the block is not in
// s.blocks yet). (Fixed: Delete now lets the running job land first, then
// writes its tombstones to the published block.) If the process
// dies after the block is durable but before publishCut runs, the reopened
// shard has the block without the tombstone; the WAL's tombstone is
// replayed into the head only (samples below appendMinT are not there), so
// the acknowledged deletion is undone.
func TestReview_DeleteDuringHeadCutLostOnCrash(t *testing.T) {
	dir := t.TempDir()
	s := openShard(t, dir, Options{BlockRange: 100 * time.Millisecond})
	series := []labels.Labels{labels.FromStrings("__name__", "m")}
	one := func(int) float64 { return 1 }
	for ts := int64(0); ts <= 150; ts++ {
		require.NoError(t, s.apply(rvMsg(series, ts, one)).Err)
	}
	j, ok := s.planHeadCut(false)
	require.True(t, ok)
	rvStartJob(t, s, j) // block written and renamed; result not applied yet
	seq, err := s.deleteLocked(math.MinInt64, math.MaxInt64, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "m")})
	require.NoError(t, err)
	require.NoError(t, s.WaitDurable(context.Background(), seq), "the delete is acknowledged")
	require.NoError(t, s.CloseUnstarted()) // the process dies here (WAL closed cleanly: nothing acked is lost)

	s = openShard(t, dir, Options{BlockRange: 100 * time.Millisecond})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	require.Len(t, s.blocks, 1)
	require.Empty(t, rvBlockSamples(t, s.blocks[0], series[0]), "deleted samples visible again")
}
