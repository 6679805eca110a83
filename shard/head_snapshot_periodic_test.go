package shard

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/internal/vfs"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// TestHeadSnapshot_CrashAtEveryStep: a shard writes periodic head
// snapshots while it appends, and is "killed" (its directory copied as a
// SIGKILL leaves it, after the acknowledged records are durable) right after
// a snapshot was planned (WAL sealed), after each durable step of the
// snapshot job (WAL synced, head chunk files synced, snapshot renamed),
// with a WAL tail after the snapshot, at each step of a head cut that
// follows (which must remove the snapshot before it truncates the WAL), and
// after the snapshot that follows the cut. Every copy must reopen with
// exactly the samples acknowledged when it was taken; copies taken after a
// snapshot was written must load it and replay only the tail.
func TestHeadSnapshot_CrashAtEveryStep(t *testing.T) {
	o := Options{BlockRange: 100 * time.Millisecond, ChunkSamples: 4, HeadSnapshotSamplesPerSeries: 1,
		HeadChunkFileSize: 1 << 12, WAL: walseg.Options{Sync: walseg.SyncAlways, SegmentSize: 1 << 12}}
	dir := t.TempDir()
	s := openShard(t, dir, o)
	series := make([]labels.Labels, 8)
	for i := range series {
		series[i] = labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))
	}
	want := map[string][]int64{}
	add := func(from, to int64) {
		for k := from; k < to; k++ {
			ts := k * 10
			r := s.apply(rvMsg(series, ts, func(i int) float64 { return float64(i) + float64(ts) }))
			require.NoError(t, r.Err)
			require.Equal(t, len(series), r.Stats.Appended)
			for _, ls := range series {
				want[ls.String()] = append(want[ls.String()], ts)
			}
		}
	}
	type crash struct {
		step string
		dir  string
		want map[string][]int64
		// tail is the most samples replay may apply if the copy loads a
		// snapshot (-1: the copy has no usable snapshot).
		tail int
	}
	var crashes []crash
	tail := -1
	kill := func(step string) {
		t.Helper()
		require.NoError(t, s.wal.Sync(t.Context())) // what was appended is acknowledged once durable
		dst := filepath.Join(t.TempDir(), "crash")
		require.NoError(t, exec.Command("cp", "-a", dir, dst).Run())
		w := map[string][]int64{}
		for k, v := range want {
			w[k] = slices.Clone(v)
		}
		crashes = append(crashes, crash{step: step, dir: dst, want: w, tail: tail})
	}
	snapshot := func(during func()) {
		t.Helper()
		require.True(t, s.headSnapshotDue())
		j, ok := s.planHeadSnapshot()
		require.True(t, ok, "a head snapshot is due")
		kill("snapshot planned")
		during()
		apply, err := j.run(t.Context())
		require.NoError(t, err)
		require.NoError(t, apply(s))
		require.False(t, s.headSnapshotDue())
	}
	add(0, 20)
	snapshot(func() {})
	require.FileExists(t, filepath.Join(dir, headSnapshotName))
	tail = 0
	kill("first snapshot written")

	add(20, 30) // a WAL tail after the first snapshot
	tail = 10 * len(series)
	s.cutStep = func(step string) { kill("snapshot: " + step) }
	// Appended after the seal, before the job runs: in the tail of the
	// new snapshot, not in it. A crash before its rename loads the first
	// one and replays both tails.
	snapshot(func() { add(30, 35); tail += 5 * len(series) })
	tail = 5 * len(series)
	add(35, 40)
	tail += 5 * len(series)
	s.cutStep = nil
	kill("tail after the second snapshot")

	// A head cut: it must drop the snapshot before its block and WAL
	// truncation make it stale; from then on a crash replays in full.
	s.cutStep = func(step string) {
		if step == "wal synced" {
			tail = -1
		}
		kill("cut: " + step)
	}
	require.NoError(t, rvRunCut(t, s, false))
	s.cutStep = nil
	require.NoFileExists(t, filepath.Join(dir, headSnapshotName))
	add(40, 45)
	kill("tail after the cut")
	s.snapMark = headSnapshotNow(s) // what planJob does when it starts a cut
	snapshot(func() {})
	tail = 0
	add(45, 50)
	tail = 5 * len(series)
	kill("tail after the snapshot after the cut")
	require.NoError(t, s.CloseUnstarted())

	loads := 0
	for i, c := range crashes {
		what := fmt.Sprintf("crash %d (%s)", i, c.step)
		r := openShard(t, c.dir, o)
		if c.tail >= 0 {
			require.Equal(t, uint64(1), r.m.SnapshotLoads.Load(), "%s: snapshot loaded", what)
			require.LessOrEqual(t, r.m.ReplayedSamples.Load(), uint64(c.tail), "%s: only the tail replayed", what)
			loads++
		}
		_, stop := runShard(t, r)
		got := uniq(allSamples(t, r))
		require.NoError(t, stop())
		require.Equal(t, uniq(c.want), got, what)
	}
	require.GreaterOrEqual(t, loads, 5)
}

// TestHeadSnapshot_NotWithLateSamples: the format has no late samples, so
// no periodic snapshot is planned while the out-of-order head holds any.
func TestHeadSnapshot_NotWithLateSamples(t *testing.T) {
	o := Options{ChunkSamples: 4, HeadSnapshotSamplesPerSeries: 1}
	s := openShard(t, t.TempDir(), o)
	ls := labels.FromStrings("__name__", "m")
	for ts := int64(100); ts < 200; ts++ {
		require.NoError(t, s.apply(msg(ls, smp(ts, 1))).Err)
	}
	require.NoError(t, s.apply(msg(ls, smp(5, 1))).Err)
	require.Equal(t, 1, s.ooo.n)
	require.True(t, s.headSnapshotDue())
	_, ok := s.planHeadSnapshot()
	require.False(t, ok)
	require.NoError(t, s.CloseUnstarted())
}

// dropUnsyncedHeadChunks makes the head chunk files (real files: they are
// mapped, so they never live on the MemFS) look as a power cut leaves them:
// bytes after the sizes the durable head snapshot lists are garbage, and
// files it does not list are gone. With no snapshot the next Open rewrites
// them all anyway.
func dropUnsyncedHeadChunks(t *testing.T, fsys vfs.FS, dir string) {
	t.Helper()
	b, err := vfs.ReadFile(fsys, filepath.Join(dir, headSnapshotName))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	require.NoError(t, err)
	r := &snapReader{b: b[:len(b)-4], off: 8}
	r.uvarint("block range")
	r.uvarint("wal segment")
	r.uvarint("epoch")
	r.varint("head mint")
	used := map[string]int64{}
	for n := r.uvarint("file count"); n > 0; n-- {
		seq := r.uvarint("seq")
		used[fmt.Sprintf("%06d", seq)] = int64(r.uvarint("used"))
		r.varint("maxT")
		if b[4] >= 3 {
			r.bytes(4, "crc")
		}
	}
	require.NoError(t, r.err)
	hdir := filepath.Join(dir, "chunks_head")
	ents, err := os.ReadDir(hdir)
	require.NoError(t, err)
	for _, e := range ents {
		path := filepath.Join(hdir, e.Name())
		u, ok := used[e.Name()]
		if !ok {
			require.NoError(t, os.Remove(path))
			continue
		}
		st, err := os.Stat(path)
		require.NoError(t, err)
		garbage := make([]byte, st.Size()-u)
		for i := range garbage {
			garbage[i] = byte(i*7 + 1)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteAt(garbage, u)
		require.NoError(t, errors.Join(err, f.Close()))
	}
}

// TestHeadSnapshot_ReadsOldVersions: shard directories left by a clean
// shutdown of the builds before version 2 (testdata/head_snapshot_v1),
// before version 3 (testdata/head_snapshot_v2, written by 5987967) and
// before version 4 (testdata/head_snapshot_v3, written by fb7e655), and the
// current version 4 (testdata/head_snapshot_v4, with its series file): three
// series, samples at 0 s … 10 s, 4-sample chunks, 4 KiB head chunk files.
// Each loads from its snapshot (version 1: open chunks decoded by Resume;
// both: the closed chunks checked by walking their chains) without
// replaying the WAL, keeps appending, and its next snapshot is the current
// version (labels in a new series file), which loads too.
func TestHeadSnapshot_ReadsOldVersions(t *testing.T) {
	for _, version := range []byte{1, 2, 3, 4} {
		t.Run(fmt.Sprintf("version=%d", version), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "shard")
			require.NoError(t, exec.Command("cp", "-a", fmt.Sprintf("testdata/head_snapshot_v%d", version), dir).Run())
			b, err := os.ReadFile(filepath.Join(dir, headSnapshotName))
			require.NoError(t, err)
			require.Equal(t, version, b[4], "fixture version")
			o := Options{ChunkSamples: 4, BlockRange: time.Hour, HeadChunkFileSize: 4096}
			s := openShard(t, dir, o)
			require.Equal(t, uint64(1), s.m.SnapshotLoads.Load())
			require.Zero(t, s.m.ReplayedSamples.Load())
			require.Equal(t, int64(10000), s.head.maxt, "from the chains or the file")
			series := []labels.Labels{labels.FromStrings("__name__", "m", "i", "0"), labels.FromStrings("__name__", "m", "i", "1"), labels.FromStrings("__name__", "other", "job", "x")}
			want := map[string][]int64{}
			for ts := int64(0); ts < 11; ts++ {
				for _, ls := range series {
					want[ls.String()] = append(want[ls.String()], ts*1000)
				}
			}
			inbox, stop := runShard(t, s)
			require.Equal(t, want, allSamples(t, s))
			for ts := int64(11); ts < 15; ts++ {
				send(t, s, inbox, rvMsg(series, ts*1000, func(i int) float64 { return float64(i)*10 + float64(ts)/4 }))
				for _, ls := range series {
					want[ls.String()] = append(want[ls.String()], ts*1000)
				}
			}
			require.NoError(t, stop())
			b, err = os.ReadFile(filepath.Join(dir, headSnapshotName))
			require.NoError(t, err)
			require.Equal(t, byte(headSnapshotVersion), b[4])
			require.FileExists(t, filepath.Join(dir, seriesFileName(1)))
			s = openShard(t, dir, o)
			require.Equal(t, uint64(1), s.m.SnapshotLoads.Load())
			require.Zero(t, s.m.ReplayedSamples.Load())
			require.Zero(t, s.m.HeadChunksRebuilt.Load())
			_, stop = runShard(t, s)
			require.Equal(t, want, allSamples(t, s))
			require.NoError(t, stop())
		})
	}
}

// TestHeadSnapshot_RestoresWhatReplayRebuilds: a head restored from a
// version 3 snapshot has the time ranges, newest sample and samples that a
// full WAL replay of the same directory rebuilds, although the snapshot
// load no longer walks the closed chunks (it takes ranges and newest
// sample from the file). Samples span four block ranges and many 4-sample
// chunks in several head chunk files; it fails when the ranges or the
// newest sample are not restored.
func TestHeadSnapshot_RestoresWhatReplayRebuilds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shard")
	o := Options{ChunkSamples: 4, BlockRange: time.Hour, HeadChunkFileSize: 4096, HeadSnapshotSamplesPerSeries: -1}
	s := openShard(t, dir, o)
	inbox, stop := runShard(t, s)
	var series []labels.Labels
	for i := range 12 {
		series = append(series, labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)))
	}
	for ts := int64(0); ts < 4*3600; ts += 97 {
		send(t, s, inbox, rvMsg(series[:1+int(ts)%len(series)], ts*1000, func(i int) float64 { return float64(i) + float64(ts) }))
	}
	require.NoError(t, stop())
	replayed := filepath.Join(t.TempDir(), "replayed")
	require.NoError(t, exec.Command("cp", "-a", dir, replayed).Run())
	require.NoError(t, os.Remove(filepath.Join(replayed, headSnapshotName)))

	a := openShard(t, dir, o)
	require.Equal(t, uint64(1), a.m.SnapshotLoads.Load())
	b := openShard(t, replayed, o)
	require.Zero(t, b.m.SnapshotLoads.Load())
	require.NotZero(t, b.m.ReplayedSamples.Load())
	require.Greater(t, len(b.head.ranges), 1)
	require.Equal(t, b.head.ranges, a.head.ranges)
	require.Equal(t, b.head.maxt, a.head.maxt)
	// Version 4: each series' newest closed chunk and its max time, which
	// the next cut links to without reading the head chunk files.
	cut := 0
	for ref := uint32(1); ref < b.head.nrefs; ref++ {
		mb, ma := b.head.get(ref), a.head.get(ref)
		require.Equal(t, mb == nil, ma == nil, "ref %d", ref)
		if mb == nil || mb.lastClosed == 0 {
			continue
		}
		cut++
		require.NotEqual(t, int64(unknownMaxT), ma.lastClosedMaxT, "ref %d", ref)
		require.Equal(t, mb.lastClosedMaxT, ma.lastClosedMaxT, "ref %d", ref)
	}
	require.Positive(t, cut)
	_, stopA := runShard(t, a)
	_, stopB := runShard(t, b)
	require.Equal(t, allSamples(t, b), allSamples(t, a))
	require.NoError(t, stopA())
	require.NoError(t, stopB())
}

// TestHeadChunks_RunningCRC: every head chunk file's running CRC is the
// CRC of its bytes in use, after live cuts, after a replay (whose writes
// are buffered) and after a snapshot load continued writing into the
// adopted current file.
func TestHeadChunks_RunningCRC(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shard")
	o := Options{ChunkSamples: 4, HeadChunkFileSize: 4096, HeadSnapshotSamplesPerSeries: -1}
	series := []labels.Labels{labels.FromStrings("__name__", "a"), labels.FromStrings("__name__", "b")}
	check := func(s *Shard, what string) {
		t.Helper()
		require.NotEmpty(t, s.hc.files, what)
		for seq, hf := range s.hc.files {
			require.Equal(t, crc32.Checksum(hf.m[headChunksHdrSize:hf.end], castagnoliTable), hf.crc, "%s: file %d", what, seq)
		}
	}
	ts := int64(0)
	appendSome := func(s *Shard) {
		for range 150 {
			require.NoError(t, s.apply(rvMsg(series, ts, func(i int) float64 { return float64(i) * float64(ts) })).Err)
			ts += 1000
		}
	}
	s := openShard(t, dir, o)
	appendSome(s)
	check(s, "live")
	require.NoError(t, s.CloseUnstarted())
	s = openShard(t, dir, o)
	check(s, "replayed")
	appendSome(s)
	_, stop := runShard(t, s)
	require.NoError(t, stop())
	s = openShard(t, dir, o)
	require.Equal(t, uint64(1), s.m.SnapshotLoads.Load())
	check(s, "adopted")
	appendSome(s)
	check(s, "adopted and appended")
	require.NoError(t, s.CloseUnstarted())
}

// TestHeadSnapshot_StoredLabelsEncoding: the capture encodes a series'
// labels from the head's symbol ids exactly as appendLabels encodes its
// label set, for series whose symbols are shared and reused after removals.
func TestHeadSnapshot_StoredLabelsEncoding(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{})
	add := func(ls labels.Labels) {
		require.NoError(t, s.apply(msg(ls, smp(1, 1))).Err)
	}
	for i := range 20 {
		add(labels.FromStrings("__name__", "m", "instance", fmt.Sprint("host-", i%7), "v", fmt.Sprint(i), "empty", ""))
	}
	add(labels.FromStrings("__name__", "m"))
	s.removeSeries(3) // frees symbol "2"'s id for reuse
	add(labels.FromStrings("__name__", "other", "reused", "x"))
	h := s.head
	n := 0
	for ref := uint32(1); ref < h.nrefs; ref++ {
		ms := h.get(ref)
		if ms == nil {
			continue
		}
		require.Equal(t, appendLabels(nil, h.labels(ms)), appendStoredLabels(nil, h, ms), "ref %d", ref)
		n++
	}
	require.Equal(t, 21, n)
	require.NoError(t, s.CloseUnstarted())
}
