package walseg

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/internal/vfs"
)

// Faults on disk: every missing piece of a WAL is reported (ReplayStats,
// Metrics.SegmentsMissing, Strict fails), never silently dropped.

// faultWAL writes ids 0..9 over several segments, checkpoints and truncates
// through the segment holding id 4 (keeping every record), then writes ids
// 10..19 across more segments and closes. It returns the checkpoint's
// segment number.
func faultWAL(t *testing.T, dir string) int {
	t.Helper()
	w, err := Open(dir, Options{SegmentSize: 64, CompressMinBytes: -1, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	for id := uint64(0); id < 5; id++ {
		require.NoError(t, w.Log(t.Context(), idRecord(id)))
	}
	through, err := w.Rotate(t.Context())
	require.NoError(t, err)
	_, err = Checkpoint(dir, through, CheckpointOptions{KeepSample: func(RefSample) bool { return true }})
	require.NoError(t, err)
	require.NoError(t, Truncate(dir, through, nil))
	for id := uint64(5); id < 20; id++ {
		require.NoError(t, w.Log(t.Context(), idRecord(id)))
	}
	require.NoError(t, w.Close())
	return through
}

func replayIDs(t *testing.T, dir string, o ReaderOptions) ([]uint64, ReplayStats, error) {
	t.Helper()
	got, st, err := replayAll(t, dir, o)
	var ids []uint64
	for _, r := range got {
		ids = append(ids, recordID(t, r))
	}
	return ids, st, err
}

func TestReader_CleanWALReportsNothing(t *testing.T) {
	dir := t.TempDir()
	faultWAL(t, dir)
	ids, st, err := replayIDs(t, dir, ReaderOptions{Strict: true})
	require.NoError(t, err)
	require.Len(t, ids, 20)
	require.Empty(t, st.Skipped)
	require.Nil(t, st.TornTail)
	require.NoError(t, Check(dir))
}

// TestReader_DeletedCheckpoint: before the fix the segments after the
// checkpoint replayed as if they were the whole WAL, with nothing reported.
func TestReader_DeletedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	cp := faultWAL(t, dir)
	require.NoError(t, os.RemoveAll(filepath.Join(dir, checkpointName(cp))))
	m := &Metrics{}
	_, st, err := replayIDs(t, dir, ReaderOptions{Metrics: m})
	require.NoError(t, err)
	require.Len(t, st.Skipped, 1, "the lost checkpoint is reported")
	require.Contains(t, st.Skipped[0].Err.Error(), "no checkpoint covers them")
	require.Equal(t, uint64(cp+1), m.SegmentsMissing.Load())
	_, _, err = replayIDs(t, dir, ReaderOptions{Strict: true})
	require.ErrorIs(t, err, ErrCorrupt)
	require.Error(t, Check(dir))
}

// TestReader_DeletedSegmentAfterCheckpoint: the first segment after the
// checkpoint is gone (before the fix: not noticed).
func TestReader_DeletedSegmentAfterCheckpoint(t *testing.T) {
	dir := t.TempDir()
	cp := faultWAL(t, dir)
	require.NoError(t, os.Remove(filepath.Join(dir, segmentName(cp+1))))
	m := &Metrics{}
	_, st, err := replayIDs(t, dir, ReaderOptions{Metrics: m})
	require.NoError(t, err)
	require.Len(t, st.Skipped, 1)
	require.Equal(t, cp+1, st.Skipped[0].Err.Segment)
	require.Equal(t, uint64(1), m.SegmentsMissing.Load())
	_, _, err = replayIDs(t, dir, ReaderOptions{Strict: true})
	require.ErrorIs(t, err, ErrCorrupt)
}

// TestReader_DeletedLastSegment: the newest segment is gone; the one before
// it was sealed into it (before the fix: not noticed).
func TestReader_DeletedLastSegment(t *testing.T) {
	for _, reopened := range []bool{false, true} {
		dir := t.TempDir()
		faultWAL(t, dir)
		if reopened {
			// A new run seals the previous run's last segment into its
			// own first one; losing that is noticed too.
			writeRecords(t, dir, Options{CompressMinBytes: -1}, idRecord(20))
		}
		segs, err := listSegments(vfs.OS, dir)
		require.NoError(t, err)
		last := segs[len(segs)-1]
		require.NoError(t, os.Remove(filepath.Join(dir, segmentName(last))))
		m := &Metrics{}
		_, st, err := replayIDs(t, dir, ReaderOptions{Metrics: m})
		require.NoError(t, err)
		require.Len(t, st.Skipped, 1, "reopened=%v", reopened)
		require.Equal(t, last, st.Skipped[0].Err.Segment)
		require.Equal(t, uint64(1), m.SegmentsMissing.Load())
		_, _, err = replayIDs(t, dir, ReaderOptions{Strict: true})
		require.ErrorIs(t, err, ErrCorrupt)
	}
}

// TestReader_DamageInLastSegmentKeepsWhatFollows: a bad record in the middle
// of the last segment, with fsynced good records after it. Before the fix
// it was taken for a torn tail: the good records were cut off and the file
// truncated. Now the damaged bytes go to quarantine/ and the rest is kept.
func TestReader_DamageInLastSegmentKeepsWhatFollows(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, Options{Sync: SyncAlways, CompressMinBytes: -1}, idRecord(0), idRecord(1), idRecord(2), idRecord(3))
	p := filepath.Join(dir, segmentName(0))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	frame := len(segmentBytes(idRecord(1))) - segmentHeaderSize
	b[segmentHeaderSize+frame+frameHeaderSize+1] ^= 0x40 // inside record 1
	require.NoError(t, os.WriteFile(p, b, 0o644))

	m := &Metrics{}
	ids, st, err := replayIDs(t, dir, ReaderOptions{Metrics: m})
	require.NoError(t, err)
	require.Equal(t, []uint64{0, 2, 3}, ids, "the records after the damage are kept")
	require.Nil(t, st.TornTail, "damage followed by good records is not a torn tail")
	require.Len(t, st.Skipped, 1)
	require.Equal(t, int64(frame), st.Skipped[0].Bytes)
	require.Equal(t, uint64(frame), m.CorruptBytesQuarantined.Load())
	q, err := os.ReadDir(filepath.Join(dir, QuarantineDir))
	require.NoError(t, err)
	require.Len(t, q, 1)

	ids, st, err = replayIDs(t, dir, ReaderOptions{Strict: true})
	require.NoError(t, err, "the segment was rewritten without the damage")
	require.Equal(t, []uint64{0, 2, 3}, ids)
	require.Empty(t, st.Skipped)
}

// TestReader_TornTailIsOnlyAnIncompleteLastRecord: a last record cut short
// is still repaired as a torn tail (truncated, not quarantined).
func TestReader_TornTailIsOnlyAnIncompleteLastRecord(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, Options{CompressMinBytes: -1}, idRecord(0), idRecord(1), idRecord(2))
	p := filepath.Join(dir, segmentName(0))
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(p, fi.Size()-3))
	ids, st, err := replayIDs(t, dir, ReaderOptions{})
	require.NoError(t, err)
	require.Equal(t, []uint64{0, 1}, ids)
	require.NotNil(t, st.TornTail)
	require.Empty(t, st.Skipped)
	_, err = os.Stat(filepath.Join(dir, QuarantineDir))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestReader_DeletedCheckpointSegment: a checkpoint whose segment file is
// gone (or that holds none) is reported too.
func TestReader_DeletedCheckpointSegment(t *testing.T) {
	dir := t.TempDir()
	cp := faultWAL(t, dir)
	cpDir := filepath.Join(dir, checkpointName(cp))
	segs, err := listSegments(vfs.OS, cpDir)
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	require.NoError(t, os.Remove(filepath.Join(cpDir, segmentName(segs[0]))))
	m := &Metrics{}
	_, st, err := replayIDs(t, dir, ReaderOptions{Metrics: m})
	require.NoError(t, err)
	require.Len(t, st.Skipped, 1)
	require.Contains(t, st.Skipped[0].Err.Error(), "checkpoint")
	require.Positive(t, m.SegmentsMissing.Load())
	_, _, err = replayIDs(t, dir, ReaderOptions{Strict: true})
	require.ErrorIs(t, err, ErrCorrupt)
}

// TestReader_DeletedOnlySegmentAfterCheckpoint: the seal of a head cut
// creates the next segment before the checkpoint is written, so a checkpoint
// with no segment after it lost that segment (before the fix: not noticed,
// and the records written there after the cut were silently gone).
func TestReader_DeletedOnlySegmentAfterCheckpoint(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{CompressMinBytes: -1, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	require.NoError(t, w.Log(t.Context(), idRecord(0)))
	through, err := w.Rotate(t.Context())
	require.NoError(t, err)
	_, err = Checkpoint(dir, through, CheckpointOptions{KeepSample: func(RefSample) bool { return true }})
	require.NoError(t, err)
	require.NoError(t, Truncate(dir, through, nil))
	require.NoError(t, w.Log(t.Context(), idRecord(1)))
	require.NoError(t, w.Close())
	segs, err := listSegments(vfs.OS, dir)
	require.NoError(t, err)
	require.Equal(t, []int{through + 1}, segs)

	ids, st, err := replayIDs(t, dir, ReaderOptions{})
	require.NoError(t, err)
	require.Equal(t, []uint64{0, 1}, ids)
	require.Empty(t, st.Skipped)

	require.NoError(t, os.Remove(filepath.Join(dir, segmentName(through+1))))
	m := &Metrics{}
	_, st, err = replayIDs(t, dir, ReaderOptions{Metrics: m})
	require.NoError(t, err)
	require.Len(t, st.Skipped, 1)
	require.Equal(t, through+1, st.Skipped[0].Err.Segment)
	require.Equal(t, uint64(1), m.SegmentsMissing.Load())
}
