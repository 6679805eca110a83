package shard

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setPersistedUntil stands in for a head cut having persisted everything at
// or before t (publishCut moves persistT), so tests can drive GC directly.
func (s *Shard) setPersistedUntil(t int64) { s.persistT = t }

func openShard(t *testing.T, dir string, o Options) *Shard {
	t.Helper()
	o.Logger = zaptest.NewLogger(t)
	s, err := Open(dir, 0, o)
	require.NoError(t, err)
	return s
}

// msg builds a one-series message as the router would (no ref hint).
func msg(lset labels.Labels, samples ...stages.Sample) *stages.ShardBatch {
	h, _ := stages.HashLabels(nil, lset)
	m := &stages.ShardBatch{Series: []stages.ShardSeries{{Labels: lset, Hash: h}}}
	m.Samples = samples
	return m
}

func smp(t int64, v float64) stages.Sample { return stages.Sample{T: t, V: v} }

// selectT returns the timestamps of the series matching name=value, read
// through a View as a querier would.
func selectT(t *testing.T, s *Shard, name, value string) map[string][]int64 {
	t.Helper()
	out := map[string][]int64{}
	v := &View{s: s}
	bm, err := v.Postings(labels.MustNewMatcher(labels.MatchEqual, name, value))
	require.NoError(t, err)
	it := bm.Iterator()
	for it.HasNext() {
		ref := it.Next()
		chunks, _, err := v.Chunks(nil, nil, ref, math.MinInt64, math.MaxInt64)
		require.NoError(t, err)
		lset, ok := v.Labels(ref)
		require.True(t, ok)
		var ts []int64
		var ci chunkstore.Iterator
		for _, c := range chunks {
			ci.Reset(c)
			for ci.Next() {
				tt, _ := ci.At()
				ts = append(ts, tt)
			}
			require.NoError(t, ci.Err())
		}
		out[lset.String()] = ts
	}
	return out
}

func TestShard_GCRecyclesRefsAndInvalidatesHints(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{IdleSeriesTimeout: 1})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	a := labels.FromStrings("__name__", "a")
	b := labels.FromStrings("__name__", "b")

	r := s.apply(msg(a, smp(10, 1)))
	require.NoError(t, r.Err)
	refA, epoch := r.Refs[0], r.Epoch
	require.NoError(t, s.apply(msg(b, smp(1000, 1))).Err)

	// Nothing persisted yet: GC keeps series with samples.
	require.Zero(t, s.gc())
	s.setPersistedUntil(100)
	require.Equal(t, 1, s.gc(), "a is idle and persisted; b is recent")
	require.Equal(t, epoch+1, s.head.epoch)
	require.Empty(t, selectT(t, s, "__name__", "a"))
	require.Equal(t, uint64(1), s.m.SeriesRemoved.Load())

	// A new series takes the freed ref.
	c := labels.FromStrings("__name__", "c")
	r = s.apply(msg(c, smp(2000, 1)))
	require.Equal(t, refA, r.Refs[0])

	// A stale hint for a (old ref, old epoch) must not write into c.
	m := msg(a, smp(3000, 5))
	m.Series[0].Ref, m.Series[0].Epoch = refA, epoch
	r = s.apply(m)
	require.NoError(t, r.Err)
	require.NotEqual(t, refA, r.Refs[0])
	require.Equal(t, map[string][]int64{c.String(): {2000}}, selectT(t, s, "__name__", "c"))
	require.Equal(t, map[string][]int64{a.String(): {3000}}, selectT(t, s, "__name__", "a"))
}

func TestShard_ReplayRecycledRefs(t *testing.T) {
	dir := t.TempDir()
	s := openShard(t, dir, Options{IdleSeriesTimeout: 1})
	a := labels.FromStrings("__name__", "a")
	c := labels.FromStrings("__name__", "c")
	require.NoError(t, s.apply(msg(a, smp(10, 1))).Err)
	require.NoError(t, s.apply(msg(labels.FromStrings("__name__", "b"), smp(1000, 1))).Err)
	s.setPersistedUntil(100)
	require.Equal(t, 1, s.gc())
	r := s.apply(msg(c, smp(2000, 1), smp(2001, 2)))
	require.Equal(t, uint32(1), r.Refs[0], "c reuses a's ref")
	require.NoError(t, s.CloseUnstarted())

	// In-order replay: a's record, a's sample, then c's record for the same
	// ref supersedes a (whose data the block issue will have persisted).
	s = openShard(t, dir, Options{})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	require.Empty(t, selectT(t, s, "__name__", "a"))
	require.Equal(t, map[string][]int64{c.String(): {2000, 2001}}, selectT(t, s, "__name__", "c"))
	require.Equal(t, 2, s.head.active)
}

func TestHead_HashCollisions(t *testing.T) {
	h := newHead()
	x := labels.FromStrings("__name__", "x")
	y := labels.FromStrings("__name__", "y")
	z := labels.FromStrings("__name__", "z")
	const same = 42 // force every series onto one hash
	rx, _ := h.create(0, same, x)
	ry, _ := h.create(0, same, y)
	rz, _ := h.create(0, same, z)
	for _, c := range []struct {
		ls  labels.Labels
		ref uint32
	}{{x, rx}, {y, ry}, {z, rz}} {
		got, s := h.lookup(same, c.ls)
		require.Equal(t, c.ref, got)
		require.True(t, labels.Equal(c.ls, h.labels(s)))
	}
	h.removeHashed(rx, same) // the head of the collision list
	got, _ := h.lookup(same, x)
	require.Zero(t, got)
	got, _ = h.lookup(same, z)
	require.Equal(t, rz, got)
	h.removeHashed(rz, same) // from the tail
	got, _ = h.lookup(same, y)
	require.Equal(t, ry, got)
	require.Equal(t, 1, h.byHash.n)
	require.Equal(t, 1, h.active)
}

func TestShard_ChunkCutAtSizeAndRange(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{ChunkSamples: 3})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	ls := labels.FromStrings("__name__", "m")
	const hour = 3600 * 1000
	// 4 samples in the first 2h range (cut at 3), then one past the boundary.
	r := s.apply(msg(ls, smp(0, 0), smp(1, 1), smp(2, 2), smp(3, 3), smp(2*hour, 4)))
	require.Equal(t, 5, r.Stats.Appended)
	ms := s.head.get(r.Refs[0])
	chunks, _, err := (&View{s: s}).Chunks(nil, nil, r.Refs[0], math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	var ranges [][2]int64
	for _, c := range chunks {
		ranges = append(ranges, [2]int64{c.MinT, c.MaxT})
	}
	require.Equal(t, [][2]int64{{0, 2}, {3, 3}, {2 * hour, 2 * hour}}, ranges, "two closed chunks, then the open one")
	require.Equal(t, int64(2*hour), ms.app.MinTime())

	// A time range that starts after the first closed chunk does not return it.
	chunks, _, err = (&View{s: s}).Chunks(nil, nil, r.Refs[0], 3, 3)
	require.NoError(t, err)
	require.Len(t, chunks, 1)
	require.Equal(t, int64(3), chunks[0].MinT)
}

func TestHeadChunks_CorruptionAndRotation(t *testing.T) {
	dir := t.TempDir()
	hc, err := openHeadChunks(dir, 128)
	require.NoError(t, err)
	var a chunkstore.Appender
	a.Reset(nil)
	for i := range 20 {
		a.Append(int64(i)*15000, float64(i))
	}
	var refs []chunkRef
	prev, prevMaxT := chunkRef(0), int64(math.MinInt64)
	for range 5 {
		ref, err := hc.write(a.Chunk(), prev, prevMaxT)
		require.NoError(t, err)
		refs = append(refs, ref)
		prev, prevMaxT = ref, a.Chunk().MaxT
	}
	require.Greater(t, refs[4].file(), refs[0].file(), "small files rotate")
	for i, ref := range refs {
		c, p, _, err := hc.chunk(ref)
		require.NoError(t, err)
		require.Equal(t, a.Chunk().Data, c.Data)
		if i > 0 {
			require.Equal(t, refs[i-1], p, "linked to the previous chunk")
		}
	}

	// Flip a payload byte on disk: the mapping shows it and the CRC catches
	// it, with the file and offset in the error.
	f, err := os.OpenFile(filepath.Join(dir, "000001"), os.O_RDWR, 0)
	require.NoError(t, err)
	var one [1]byte
	off := int64(refs[0].offset()) + headChunkLinkSize + 20
	_, err = f.ReadAt(one[:], off)
	require.NoError(t, err)
	one[0] ^= 0x10
	_, err = f.WriteAt(one[:], off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, _, _, err = hc.chunk(refs[0])
	require.True(t, errors.Is(err, chunkstore.ErrCorrupt), "got %v", err)
	require.ErrorContains(t, err, "head chunk file 000001")

	_, _, _, err = hc.chunk(newChunkRef(99, 8))
	require.ErrorContains(t, err, "no file 000099")

	// A reader's reference keeps the mapping alive past close.
	files := hc.acquireAll(nil)
	require.NoError(t, hc.close())
	for _, f := range files {
		require.NotEmpty(t, []byte(f.m[:headChunksHdrSize]))
		f.release()
	}
}

func TestShard_ViewAfterClose(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{})
	inbox := make(chan *stages.ShardBatch)
	done := make(chan error)
	go func() { done <- s.Run(inbox, 0) }()
	require.NoError(t, s.View(t.Context(), func(v *View) error { return nil }))
	close(inbox)
	require.NoError(t, <-done)
	err := s.View(t.Context(), func(v *View) error { return nil })
	require.ErrorIs(t, err, ErrClosed)
}

// TestShard_ApplyAllocsSteadyState: once series exist and their chunk
// buffers have reached their working size, applying an append message
// allocates nothing per sample (the WAL flusher's per-round bookkeeping is
// the only allocation left, and it is per group commit, not per sample).
func TestShard_ApplyAllocsSteadyState(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{ChunkSamples: 8})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	const series, perMsg = 50, 4
	m := &stages.ShardBatch{}
	for i := range series {
		ls := labels.FromStrings("__name__", "m", "i", string(rune('a'+i%26))+string(rune('a'+i/26)))
		h, _ := stages.HashLabels(nil, ls)
		m.Series = append(m.Series, stages.ShardSeries{Labels: ls, Hash: h})
	}
	ts := int64(0)
	fill := func() {
		m.Samples = m.Samples[:0]
		for k := range perMsg {
			for i := range series {
				m.Samples = append(m.Samples, stages.Sample{Series: uint32(i), T: ts + int64(k), V: float64(i)})
			}
		}
		ts += perMsg
	}
	for range 40 { // past several chunk cuts, so buffers are at size
		fill()
		r := s.apply(m)
		require.NoError(t, r.Err)
		m.Result = r
	}
	samples := series * perMsg
	allocs := testing.AllocsPerRun(50, func() {
		fill()
		m.Result = s.apply(m)
	})
	require.NoError(t, m.Result.Err)
	t.Logf("%.2f allocations per message of %d samples", allocs, samples)
	require.LessOrEqual(t, allocs, 2.0, "per-message allocations only (WAL group-commit bookkeeping)")
}

// Before: the head memory estimate behind HeadMaxBytes was a flat 250 B
// per series, the one-sample best case; a series with a full open chunk
// costs about twice that. It now counts the open chunks' buffers, and a
// restart (snapshot restore, WAL replay) recounts them.
func TestShard_HeadBytesCountsOpenChunks(t *testing.T) {
	dir := t.TempDir()
	s := openShard(t, dir, Options{})
	const series = 100
	m := &stages.ShardBatch{}
	for i := range series {
		ls := labels.FromStrings("__name__", "m", "i", string(rune('a'+i%26))+string(rune('a'+i/26)))
		h, _ := stages.HashLabels(nil, ls)
		m.Series = append(m.Series, stages.ShardSeries{Labels: ls, Hash: h})
	}
	appendRound := func(ts int64) {
		m.Samples = m.Samples[:0]
		for i := range series {
			m.Samples = append(m.Samples, stages.Sample{Series: uint32(i), T: ts, V: float64(ts*7 + int64(i))})
		}
		r := s.apply(m)
		require.NoError(t, r.Err)
		require.Equal(t, series, r.Stats.Appended)
	}
	appendRound(1000)
	one := s.headBytes()
	require.Equal(t, int64(series*headBytesPerSeries)+s.head.lbls.size+s.head.openBytes, one)
	for k := int64(2); k <= 60; k++ {
		appendRound(k * 1000)
	}
	sixty := s.headBytes()
	require.Greater(t, sixty-one, int64(series*40), "60 samples of changing values take more than 40 B per series")
	// A clean stop (Run's shutdown) writes the head snapshot.
	inbox := make(chan *stages.ShardBatch)
	close(inbox)
	require.NoError(t, s.Run(inbox, 0))
	require.FileExists(t, filepath.Join(dir, "head.snapshot"))

	for _, snapshot := range []bool{true, false} {
		if !snapshot {
			require.NoError(t, os.Remove(filepath.Join(dir, "head.snapshot")))
		}
		s = openShard(t, dir, Options{})
		got := s.headBytes()
		s.head.recountOpenBytes()
		require.Equal(t, got, s.headBytes(), "snapshot=%v: the count after Open is the recount", snapshot)
		require.InDelta(t, sixty, got, float64(sixty)/4, "snapshot=%v: restored head counts its open chunks", snapshot)
		inbox := make(chan *stages.ShardBatch)
		close(inbox)
		require.NoError(t, s.Run(inbox, 0))
	}
}

// TestShard_OpenChunkBytesBounded: the open chunk closes at OpenChunkBytes
// of payload, so that a counter's buffer stays at 64 bytes through 480
// samples instead of growing to ~256 before the 120-sample cut; a
// high-entropy series still gets chunks of at least OpenChunkMinSamples
// samples; every sample reads back.
func TestShard_OpenChunkBytesBounded(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	counter := labels.FromStrings("__name__", "counter")
	random := labels.FromStrings("__name__", "random")
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 480
	var ref [2]uint32
	maxCap, cnt := 0, 0.0
	for i := range n {
		ts := int64(i)*15_000 + rng.Int64N(40)
		cnt += float64(15 + rng.IntN(3)) // a counter of integer increments: ~2 bytes a sample
		r := s.apply(msg(counter, smp(ts, cnt)))
		require.Equal(t, 1, r.Stats.Appended)
		ref[0] = r.Refs[0]
		maxCap = max(maxCap, cap(s.head.get(ref[0]).app.Bytes()))
		r = s.apply(msg(random, smp(ts, rng.Float64())))
		require.Equal(t, 1, r.Stats.Appended)
		ref[1] = r.Refs[0]
	}
	require.LessOrEqual(t, maxCap, 64, "the counter's open chunk buffer")
	for k, name := range []string{"counter", "random"} {
		chunks, _, err := (&View{s: s}).Chunks(nil, nil, ref[k], math.MinInt64, math.MaxInt64)
		require.NoError(t, err)
		total := 0
		for i, c := range chunks {
			if i < len(chunks)-1 {
				require.GreaterOrEqual(t, c.NumSamples, OpenChunkMinSamples, "%s: closed chunk %d", name, i)
			}
			total += c.NumSamples
		}
		require.Equal(t, n, total, name)
		if k == 0 {
			require.Greater(t, len(chunks), n/DefaultOpenChunkBytes, "the counter's chunks close on bytes, not at 120 samples")
		}
		require.Len(t, selectT(t, s, "__name__", name)[`{__name__="`+name+`"}`], n)
	}
}

// TestShard_ChunkLinksCarryPrevMaxT: each closed chunk's link holds the
// maxT of the series' previous closed chunk, whether the series kept it
// from its last cut or was restored from a head snapshot (which reads it
// back from the file once).
func TestShard_ChunkLinksCarryPrevMaxT(t *testing.T) {
	dir := t.TempDir()
	ls := labels.FromStrings("__name__", "m")
	ts := int64(0)
	appendN := func(s *Shard, n int) uint32 {
		var ref uint32
		for range n {
			ts += 1000
			r := s.apply(msg(ls, smp(ts, float64(ts))))
			require.Equal(t, 1, r.Stats.Appended)
			ref = r.Refs[0]
		}
		return ref
	}
	checkLinks := func(s *Shard, ref uint32, wantChunks int) {
		t.Helper()
		ms := s.head.get(ref)
		var maxTs, links []int64
		for cr := ms.lastClosed; cr != 0; {
			c, prev, prevMaxT, err := s.hc.chunk(cr)
			require.NoError(t, err)
			maxTs = append(maxTs, c.MaxT)
			links = append(links, prevMaxT)
			cr = prev
		}
		require.Len(t, maxTs, wantChunks)
		for i := 0; i+1 < len(maxTs); i++ {
			require.Equal(t, maxTs[i+1], links[i], "link of closed chunk %d (newest first)", i)
		}
		require.Equal(t, int64(math.MinInt64), links[len(links)-1], "the oldest chunk links to none")
		require.Equal(t, maxTs[0], ms.lastClosedMaxT)
	}
	s := openShard(t, dir, Options{ChunkSamples: 3})
	ref := appendN(s, 10) // chunks [1 2 3] [4 5 6] [7 8 9], 10 open
	checkLinks(s, ref, 3)
	inbox := make(chan *stages.ShardBatch)
	close(inbox)
	require.NoError(t, s.Run(inbox, 0)) // a clean stop writes the head snapshot
	require.FileExists(t, filepath.Join(dir, "head.snapshot"))

	s = openShard(t, dir, Options{ChunkSamples: 3})
	require.Equal(t, uint64(1), s.m.SnapshotLoads.Load())
	ms := s.head.get(ref)
	require.NotNil(t, ms)
	// Version 4 of the snapshot keeps it (before, the next cut read it
	// back from the head chunk file).
	require.Equal(t, int64(9000), ms.lastClosedMaxT, "a restored series knows its last closed chunk's maxT")
	appendN(s, 6) // two more cuts
	checkLinks(s, ref, 5)
	require.NoError(t, s.CloseUnstarted())
}

// TestShard_ReencodeClosedChunks: live cuts store closed chunks as the
// appender wrote them (EncXOR) unless ReencodeClosedChunks is set, which
// stores decimal-looking values as EncDecimal; both read back the same.
func TestShard_ReencodeClosedChunks(t *testing.T) {
	for _, reencode := range []bool{false, true} {
		s := openShard(t, t.TempDir(), Options{ChunkSamples: 30, ReencodeClosedChunks: reencode})
		ls := labels.FromStrings("__name__", "bytes")
		var ref uint32
		for i := range 40 {
			r := s.apply(msg(ls, smp(int64(i)*15_000, float64(1000+i*37)+0.25)))
			require.Equal(t, 1, r.Stats.Appended)
			ref = r.Refs[0]
		}
		c, _, _, err := s.hc.chunk(s.head.get(ref).lastClosed)
		require.NoError(t, err)
		want := chunkstore.EncXOR
		if reencode {
			want = chunkstore.EncDecimal
		}
		require.Equal(t, want, c.Enc, "reencode=%v", reencode)
		require.Len(t, selectT(t, s, "__name__", "bytes")[`{__name__="bytes"}`], 40)
		require.NoError(t, s.CloseUnstarted())
	}
}

// TestReplay_PendingHeadChunksFlushed: replay buffers the closed chunks it
// writes (headChunks.pend) and must have written every one, in the right
// file at the right offset, when Open returns: with 4 KiB head chunk files
// and 4-sample chunks a full replay fills many files, and every sample of
// every series reads back through the mapping, after the replay and after
// one more restart from the files the replay wrote. It fails when the
// flush before a file cut or at the end of replay is left out.
func TestReplay_PendingHeadChunksFlushed(t *testing.T) {
	dir := t.TempDir()
	o := Options{ChunkSamples: 4, HeadChunkFileSize: 4096, HeadSnapshotSamplesPerSeries: -1}
	s := openShard(t, dir, o)
	var series []labels.Labels
	for i := range 30 {
		series = append(series, labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)))
	}
	want := map[string][]int64{}
	for ts := int64(0); ts < 100; ts++ {
		require.NoError(t, s.apply(rvMsg(series, ts*1000, func(i int) float64 { return float64(i*1000) + float64(ts) })).Err)
		for _, ls := range series {
			want[ls.String()] = append(want[ls.String()], ts*1000)
		}
	}
	require.NoError(t, s.CloseUnstarted()) // no snapshot: the next Open replays everything
	s = openShard(t, dir, o)
	require.Equal(t, uint64(3000), s.m.ReplayedSamples.Load())
	require.Greater(t, len(s.hc.files), 3, "the replay should fill several head chunk files")
	require.Equal(t, want, selectT(t, s, "__name__", "m"))
	_, stop := runShard(t, s)
	require.NoError(t, stop()) // a clean stop: the snapshot adopts the replayed files
	s = openShard(t, dir, o)
	require.Equal(t, uint64(1), s.m.SnapshotLoads.Load())
	require.Zero(t, s.m.ReplayedSamples.Load())
	require.Equal(t, want, selectT(t, s, "__name__", "m"))
	require.NoError(t, s.CloseUnstarted())
}

// TestFlushReplay_GroupsByRefInWALOrder: the replay sort (two stable radix
// passes over the refs) must keep each series' samples in WAL order and
// count samples of refs the head does not hold as unknown. 700 series
// (refs over several high digits) get 40 samples each, interleaved at
// random with increasing timestamps per series, plus samples of unknown
// refs; an unstable or misgrouped sort appends out of order and loses
// samples.
func TestFlushReplay_GroupsByRefInWALOrder(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	const nSeries, perSeries = 700, 40
	for i := range nSeries {
		ls := labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))
		h, _ := stages.HashLabels(nil, ls)
		s.head.create(0, h, ls)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	next := make([]int64, nSeries+1)
	var rb replayBuffer
	left := nSeries * perSeries
	for left > 0 {
		ref := uint32(1 + rng.IntN(nSeries))
		if next[ref] >= perSeries {
			continue
		}
		rb.buf = append(rb.buf, walseg.RefSample{Ref: ref, T: next[ref] * 1000, V: float64(next[ref])})
		next[ref]++
		left--
		if rng.IntN(50) == 0 {
			rb.buf = append(rb.buf, walseg.RefSample{Ref: s.head.nrefs + uint32(rng.IntN(1000)), T: 1})
		}
	}
	unknown := uint64(len(rb.buf) - nSeries*perSeries)
	require.NoError(t, s.flushReplay(&rb))
	require.Equal(t, uint64(nSeries*perSeries), rb.appended)
	require.Equal(t, unknown, rb.unknown)
	got := selectT(t, s, "__name__", "m")
	require.Len(t, got, nSeries)
	for k, ts := range got {
		require.Len(t, ts, perSeries, k)
		require.True(t, slices.IsSorted(ts), k)
	}
}
