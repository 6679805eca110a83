package walseg

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files in testdata/")

// goldenRecords are the records of testdata/golden/v1/00000000.
func goldenRecords() [][]byte {
	return [][]byte{
		AppendSeries(nil, []RefSeries{
			{Ref: 1, Labels: labels.FromStrings("__name__", "node_load1", "instance", "h1:9100", "job", "node")},
			{Ref: 2, Labels: labels.FromStrings("__name__", "up", "instance", "h1:9100", "job", "node")},
		}),
		AppendSamples(nil, []RefSample{{Ref: 1, T: 1767225600000, V: 0.42}, {Ref: 2, T: 1767225600003, V: staleNaN}}),
		bigRecord(7, 200), // compressed with the default codec
		AppendTombstones(nil, []Tombstone{{Ref: 2, MinT: 1767225600000, MaxT: 1767225615000}}),
	}
}

// TestGolden_V1 pins the version-1 bytes: the writer must still produce
// them exactly, and the reader must still read them. Regenerate with
// -update only together with a format version bump (docs/format/wal.md §7).
func TestGolden_V1(t *testing.T) {
	path := filepath.Join("testdata", "golden", "v1", segmentName(0))
	dir := t.TempDir()
	writeRecords(t, dir, Options{Sync: SyncNone}, goldenRecords()...)
	got, err := os.ReadFile(filepath.Join(dir, segmentName(0)))
	require.NoError(t, err)
	if *updateGolden {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run with -update")
	require.Equal(t, want, got, "writer output changed: that is a format change")

	recs, st, err := replayAll(t, filepath.Dir(path), ReaderOptions{Strict: true, ReadOnly: true})
	require.NoError(t, err)
	require.Nil(t, st.TornTail)
	require.Equal(t, goldenRecords(), recs)
}

// TestWriter_BatchSyncInterval checks, on a fake clock, that sync=batch
// acknowledges at write(2) and fsyncs once the interval has passed.
func TestWriter_BatchSyncInterval(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w, err := Open(dir, Options{Sync: SyncBatch, SyncInterval: 50 * time.Millisecond, Logger: zap.NewNop()})
		require.NoError(t, err)
		m := w.Metrics()
		base := m.Fsyncs.Load() // the new segment's header fsync
		time.Sleep(time.Second) // let the interval since that fsync pass
		require.NoError(t, w.Log(t.Context(), idRecord(1)))
		synctest.Wait()
		require.Equal(t, base+1, m.Fsyncs.Load(), "interval passed: fsync right after the write")

		require.NoError(t, w.Log(t.Context(), idRecord(2)), "acknowledged before any fsync")
		synctest.Wait()
		require.Equal(t, base+1, m.Fsyncs.Load(), "within the interval: no fsync yet")
		time.Sleep(60 * time.Millisecond)
		synctest.Wait()
		require.Equal(t, base+2, m.Fsyncs.Load(), "timer fsync after the interval")
		require.NoError(t, w.Close())
	})
}

// TestOpen_RepairsTornTail: a writer opened without replay still cuts a
// torn tail first, so the old tail never sits before new records.
func TestOpen_RepairsTornTail(t *testing.T) {
	dir := t.TempDir()
	img := segmentBytes(idRecord(0), idRecord(1))
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(0)), append(img, 9, 9, 9), 0o644))
	m := &Metrics{}
	writeRecords(t, dir, Options{Metrics: m}, idRecord(2))
	require.Equal(t, uint64(1), m.TornTailsRepaired.Load())
	recs, st, err := replayAll(t, dir, ReaderOptions{Strict: true})
	require.NoError(t, err)
	require.Nil(t, st.TornTail)
	require.Len(t, recs, 3)
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, Options{}, goldenRecords()...)
	require.NoError(t, Check(dir))

	p := filepath.Join(dir, segmentName(0))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, append(b, 1, 2), 0o644))
	require.ErrorIs(t, Check(dir), ErrCorrupt, "torn tail")
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, int64(len(b)+2), fi.Size(), "Check never repairs")

	// A frame with a good CRC but an undecodable body.
	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, segmentName(0)), segmentBytes([]byte{byte(RecordSamples), 5}), 0o644))
	require.ErrorIs(t, Check(bad), ErrCorrupt)
}
