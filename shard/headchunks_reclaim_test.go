package shard

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// headChunkFiles lists the head chunk files on disk in s's directory.
func headChunkFiles(t *testing.T, s *Shard) []string {
	t.Helper()
	ents, err := os.ReadDir(s.hc.dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestHeadChunks_ReclaimedAfterCut: once a head cut has persisted every
// chunk of a head chunk file, the file is removed, the current one
// included, although every series' newest closed chunk is in one of them
// (before, each series pinned the file of its newest closed chunk for ever
// and the current file was never retired: 52 MB of head chunk files stayed
// beside the blocks of a fully persisted week). A reader holding file
// references across the cut still reads the bytes it took; queries and
// later chunk cuts see the rest of the head, and new files get new
// sequence numbers. This test failed before the fix (the files stayed).
func TestHeadChunks_ReclaimedAfterCut(t *testing.T) {
	const seed = 7
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	s := openShard(t, t.TempDir(), Options{BlockRange: 100 * time.Millisecond, HeadChunkFileSize: 4096, OpenChunkBytes: -1})
	t.Cleanup(func() { require.NoError(t, s.CloseUnstarted()) })
	var series []labels.Labels
	for i := range 30 {
		series = append(series, labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)))
	}
	// No byte bound on open chunks: the test reads [0, 99] as one closed chunk.
	val := func(int) float64 { return rng.Float64() * 1e6 } // incompressible: a few chunks per file
	var refs []uint32
	for ts := int64(0); ts <= 150; ts++ {
		r := s.apply(rvMsg(series, ts, val))
		require.NoError(t, r.Err)
		refs = append(refs[:0], r.Refs...)
	}
	before := headChunkFiles(t, s)
	require.Greater(t, len(before), 2, "the closed chunks [0, 99] span several head chunk files")
	maxSeq := s.hc.cur.seq

	// A reader takes the closed chunk of series 0 and its files' references.
	v := &View{s: s}
	held, _, err := v.Chunks(nil, nil, refs[0], 0, 99)
	require.NoError(t, err)
	require.Len(t, held, 1)
	want := samplesOf(t, held)
	files := v.AcquireFiles()

	require.NoError(t, rvRunCut(t, s, false))
	require.Equal(t, int64(100), s.queryMinT)
	require.Empty(t, headChunkFiles(t, s), "every head chunk is in the block: no head chunk file may stay")
	require.Empty(t, s.hc.files)
	require.Equal(t, want, samplesOf(t, held), "a reader's mapped chunk stays readable after its file is retired")
	files.Release()

	// The head still serves [100, 150]; the next chunk cuts write to a new
	// file with a new number, and a forced cut of everything frees it too.
	for i, ref := range refs {
		ts, err := rvRead(s, ref)
		require.NoError(t, err, "series %d", i)
		require.Len(t, ts, 51, "series %d", i)
	}
	for ts := int64(151); ts <= 260; ts++ {
		require.NoError(t, s.apply(rvMsg(series, ts, val)).Err)
	}
	require.NotEmpty(t, s.hc.files)
	for seq := range s.hc.files {
		require.Greater(t, seq, maxSeq, "a retired file's number is not reused")
	}
	for i, ref := range refs {
		ts, err := rvRead(s, ref)
		require.NoError(t, err, "series %d", i)
		require.Len(t, ts, 161, "series %d: [100, 260] from the head", i)
	}
	require.NoError(t, rvRunCut(t, s, false)) // [100, 200)
	for i, ref := range refs {
		ts, err := rvRead(s, ref)
		require.NoError(t, err, "series %d", i)
		require.Len(t, ts, 61, "series %d: [200, 260] from the head", i)
	}
	for ts := int64(261); ts <= 320; ts++ { // cuts chunks at 300 into the files
		require.NoError(t, s.apply(rvMsg(series, ts, val)).Err)
	}
	require.NoError(t, rvRunCut(t, s, true))
	require.Empty(t, headChunkFiles(t, s), "after a cut of everything no head chunk file stays")
	require.Len(t, s.blocks, 3)
	var total uint64
	for _, b := range s.blocks {
		total += b.Meta().Stats.NumSamples
	}
	require.Equal(t, uint64(len(series)*321), total)
}

func samplesOf(t *testing.T, cs []chunkstore.Chunk) [][2]uint64 {
	t.Helper()
	var out [][2]uint64
	var it chunkstore.Iterator
	for _, c := range cs {
		it.Reset(c)
		for it.Next() {
			tt, vv := it.At()
			out = append(out, [2]uint64{uint64(tt), math.Float64bits(vv)})
		}
		require.NoError(t, it.Err())
	}
	return out
}
