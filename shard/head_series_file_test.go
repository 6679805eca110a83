package shard

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// periodicSnapshot plans and runs one periodic head snapshot as the shard's
// loop would (the test calls it on the shard's own goroutine).
func periodicSnapshot(t *testing.T, s *Shard) {
	t.Helper()
	s.snapMark = headSnapshotNow(s)
	j, ok := s.planHeadSnapshot()
	require.True(t, ok, "a head snapshot is due")
	apply, err := j.run(t.Context())
	require.NoError(t, err)
	require.NoError(t, apply(s))
}

// unstartedCrashCopy copies the directory of a shard that is not running as a SIGKILL leaves it once the
// acknowledged records are durable.
func unstartedCrashCopy(t *testing.T, s *Shard, dir string) string {
	t.Helper()
	require.NoError(t, s.wal.Sync(t.Context()))
	dst := filepath.Join(t.TempDir(), "crash")
	require.NoError(t, exec.Command("cp", "-a", dir, dst).Run())
	return dst
}

// TestHeadSeriesFile_RecycledRef: a head GC frees a's ref and c takes it.
// A crash before the next snapshot loads the old one (ref 1 = a) and the
// WAL tail's series record for c supersedes it; a crash after the next
// snapshot must read ref 1 as c, from c's own record in the series file.
// Before removeSeries cleared the ref's bit, c never got a record and the
// second copy came back with c's samples under a's labels.
func TestHeadSeriesFile_RecycledRef(t *testing.T) {
	dir := t.TempDir()
	o := Options{IdleSeriesTimeout: 1, HeadSnapshotSamplesPerSeries: 1}
	s := openShard(t, dir, o)
	a := labels.FromStrings("__name__", "a")
	b := labels.FromStrings("__name__", "b")
	c := labels.FromStrings("__name__", "c")
	require.NoError(t, s.apply(msg(a, smp(10, 1))).Err)
	require.NoError(t, s.apply(msg(b, smp(1000, 1))).Err)
	periodicSnapshot(t, s)
	s.setPersistedUntil(100)
	require.Equal(t, 1, s.gc())
	r := s.apply(msg(c, smp(2000, 1), smp(2001, 2)))
	require.Equal(t, uint32(1), r.Refs[0], "c reuses a's ref")
	beforeSnapshot := unstartedCrashCopy(t, s, dir)
	periodicSnapshot(t, s)
	afterSnapshot := unstartedCrashCopy(t, s, dir)
	require.NoError(t, s.CloseUnstarted())

	for _, d := range []string{beforeSnapshot, afterSnapshot, dir} {
		s := openShard(t, d, Options{})
		require.Equal(t, uint64(1), s.m.SnapshotLoads.Load(), d)
		require.Empty(t, selectT(t, s, "__name__", "a"), d)
		require.Equal(t, map[string][]int64{c.String(): {2000, 2001}}, selectT(t, s, "__name__", "c"), d)
		require.Equal(t, map[string][]int64{b.String(): {1000}}, selectT(t, s, "__name__", "b"), d)
		require.NoError(t, s.CloseUnstarted())
	}
	// The reopened shard continues the series file after the size its
	// snapshot listed, and the next start reads both generations of
	// records.
	s = openShard(t, afterSnapshot, o)
	e := labels.FromStrings("__name__", "e")
	require.NoError(t, s.apply(msg(e, smp(3000, 1))).Err)
	periodicSnapshot(t, s)
	again := unstartedCrashCopy(t, s, afterSnapshot)
	require.NoError(t, s.CloseUnstarted())
	s = openShard(t, again, Options{})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	require.Equal(t, uint64(1), s.m.SnapshotLoads.Load())
	require.Zero(t, s.m.ReplayedSamples.Load())
	require.Equal(t, map[string][]int64{c.String(): {2000, 2001}}, selectT(t, s, "__name__", "c"))
	require.Equal(t, map[string][]int64{e.String(): {3000}}, selectT(t, s, "__name__", "e"))
	require.Equal(t, uint64(1), s.series.seq, "one series file all along")
}

// TestHeadSeriesFile_Damage: a series file damaged, cut short, missing or of
// another generation makes the snapshot unusable: Open replays the WAL in
// full and every sample comes back, never a panic or a series under wrong
// labels. Bytes after the size the snapshot lists (a capture whose snapshot
// never became durable, a torn write) are never read.
func TestHeadSeriesFile_Damage(t *testing.T) {
	series := make([]labels.Labels, 5)
	for i := range series {
		series[i] = labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))
	}
	want := map[string][]int64{}
	src := t.TempDir()
	o := Options{ChunkSamples: 4}
	s := openShard(t, src, o)
	inbox, stop := runShard(t, s)
	for ts := int64(0); ts < 20; ts++ {
		send(t, s, inbox, rvMsg(series, ts, func(i int) float64 { return float64(i) }))
		for _, ls := range series {
			want[ls.String()] = append(want[ls.String()], ts)
		}
	}
	require.NoError(t, stop())
	name := seriesFileName(1)
	require.FileExists(t, filepath.Join(src, name))
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte // nil result: remove the file
		loads  bool
	}{
		{"intact", func(b []byte) []byte { return b }, true},
		{"garbage after the listed size", func(b []byte) []byte { return append(b, 0x17, 1, 2, 3, 4, 5, 6, 7, 8, 9) }, true},
		{"flipped label byte", func(b []byte) []byte { b[headSeriesHdrSize+4] ^= 0x40; return b }, false},
		{"flipped crc byte", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, false},
		{"cut short", func(b []byte) []byte { return b[:len(b)-3] }, false},
		{"header only", func(b []byte) []byte { return b[:headSeriesHdrSize] }, false},
		{"empty", func(b []byte) []byte { return b[:0] }, false},
		{"other generation", func(b []byte) []byte { b[15]++; return b }, false},
		{"bad magic", func(b []byte) []byte { b[0] ^= 0xff; return b }, false},
		{"unknown version", func(b []byte) []byte { b[4] = 9; return b }, false},
		{"missing", func([]byte) []byte { return nil }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "shard")
			require.NoError(t, exec.Command("cp", "-a", src, dir).Run())
			p := filepath.Join(dir, name)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			if nb := tc.damage(b); nb == nil {
				require.NoError(t, os.Remove(p))
			} else {
				require.NoError(t, os.WriteFile(p, nb, 0o644))
			}
			s := openShard(t, dir, o)
			if tc.loads {
				require.Equal(t, uint64(1), s.m.SnapshotLoads.Load())
				require.Zero(t, s.m.ReplayedSamples.Load())
			} else {
				require.Zero(t, s.m.SnapshotLoads.Load(), "the snapshot was not used")
				require.Equal(t, uint64(20*len(series)), s.m.ReplayedSamples.Load(), "full replay")
				require.NoFileExists(t, p, "Open removes series files no snapshot names")
			}
			inbox, stop := runShard(t, s)
			require.Equal(t, want, allSamples(t, s))
			// The next snapshot is whole again.
			send(t, s, inbox, rvMsg(series, 20, func(i int) float64 { return float64(i) }))
			require.NoError(t, stop())
			s = openShard(t, dir, o)
			require.Equal(t, uint64(1), s.m.SnapshotLoads.Load())
			w := map[string][]int64{}
			for k, v := range want {
				w[k] = append(append([]int64(nil), v...), 20)
			}
			_, stop = runShard(t, s)
			require.Equal(t, w, allSamples(t, s))
			require.NoError(t, stop())
		})
	}
}

// TestHeadSeriesFile_RewrittenAfterChurn: when collected series leave the
// series file with more than twice as many records as the head has series,
// the next capture writes a new file with the live series only, and the
// old one goes once the snapshot naming the new one is durable.
func TestHeadSeriesFile_RewrittenAfterChurn(t *testing.T) {
	dir := t.TempDir()
	o := Options{IdleSeriesTimeout: 1, HeadSnapshotSamplesPerSeries: 1}
	s := openShard(t, dir, o)
	var many []labels.Labels
	for i := range 6000 {
		many = append(many, labels.FromStrings("__name__", "gone", "i", fmt.Sprint(i)))
	}
	require.NoError(t, s.apply(rvMsg(many, 10, func(int) float64 { return 1 })).Err)
	keep := labels.FromStrings("__name__", "keep")
	require.NoError(t, s.apply(msg(keep, smp(1000, 1))).Err)
	periodicSnapshot(t, s)
	first, err := os.Stat(filepath.Join(dir, seriesFileName(1)))
	require.NoError(t, err)
	s.setPersistedUntil(100)
	require.Equal(t, 6000, s.gc())
	late := labels.FromStrings("__name__", "late")
	require.NoError(t, s.apply(msg(late, smp(2000, 1))).Err)
	periodicSnapshot(t, s)
	require.Equal(t, uint64(2), s.series.seq, "a new series file")
	require.NoFileExists(t, filepath.Join(dir, seriesFileName(1)), "the old one removed")
	second, err := os.Stat(filepath.Join(dir, seriesFileName(2)))
	require.NoError(t, err)
	require.Less(t, second.Size()*20, first.Size())
	cp := unstartedCrashCopy(t, s, dir)
	require.NoError(t, s.CloseUnstarted())
	s = openShard(t, cp, Options{})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	require.Equal(t, uint64(1), s.m.SnapshotLoads.Load())
	require.Equal(t, 2, s.head.active)
	require.Equal(t, map[string][]int64{keep.String(): {1000}}, selectT(t, s, "__name__", "keep"))
	require.Equal(t, map[string][]int64{late.String(): {2000}}, selectT(t, s, "__name__", "late"))
}
