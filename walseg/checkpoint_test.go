package walseg

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/internal/vfs"
)

// TestCheckpoint_TruncateReplay writes series, samples and tombstones over
// several segments, checkpoints and truncates while the writer stays open,
// keeps writing, and checks what replay returns.
func TestCheckpoint_TruncateReplay(t *testing.T) {
	dir := t.TempDir()
	m := &Metrics{}
	w, err := Open(dir, Options{SegmentSize: 1 << 10, Metrics: m, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	ctx := t.Context()
	for ref := uint32(0); ref < 10; ref++ {
		require.NoError(t, w.Log(ctx, AppendSeries(nil, []RefSeries{{Ref: ref, Labels: labels.FromStrings("__name__", "m", "i", string(rune('a'+ref)))}})))
	}
	for ts := int64(0); ts < 20; ts++ {
		var s []RefSample
		for ref := uint32(0); ref < 10; ref++ {
			s = append(s, RefSample{Ref: ref, T: ts, V: float64(ts)})
		}
		require.NoError(t, w.Log(ctx, AppendSamples(nil, s)))
	}
	require.NoError(t, w.Log(ctx, AppendTombstones(nil, []Tombstone{{Ref: 2, MinT: 0, MaxT: 3}, {Ref: 3, MinT: 0, MaxT: 3}})))
	// Ref 4 is recycled for a new series: the later record supersedes.
	require.NoError(t, w.Log(ctx, AppendSeries(nil, []RefSeries{{Ref: 4, Labels: labels.FromStrings("__name__", "recycled")}})))

	through, err := w.Rotate(ctx)
	require.NoError(t, err)
	require.Greater(t, through, 0)
	require.Equal(t, through+1, w.Segment())
	// A stale temporary checkpoint from a crash must not matter.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, checkpointName(through)+".tmp"), 0o755))

	even := func(ref uint32) bool { return ref%2 == 0 }
	st, err := Checkpoint(dir, through, CheckpointOptions{
		KeepSeries:    even,
		KeepSample:    func(s RefSample) bool { return even(s.Ref) && s.T >= 10 },
		KeepTombstone: func(ts Tombstone) bool { return even(ts.Ref) },
		Metrics:       m,
		Logger:        zaptest.NewLogger(t),
	})
	require.NoError(t, err)
	require.Equal(t, through, st.Through)
	require.Equal(t, uint64(6), st.SeriesOut) // 0,2,4,6,8 and recycled 4
	require.Equal(t, uint64(1), st.TombstonesOut)
	require.NoError(t, Truncate(dir, through, m))
	require.Equal(t, uint64(1), m.Checkpoints.Load())

	require.NoError(t, w.Log(ctx, AppendSamples(nil, []RefSample{{Ref: 4, T: 100, V: 1}})))
	require.NoError(t, w.Close())

	r, err := OpenReader(dir, ReaderOptions{Strict: true})
	require.NoError(t, err)
	defer r.Close()
	series := map[uint32]labels.Labels{}
	var samples []RefSample
	var tombs []Tombstone
	sawCheckpoint := false
	for r.Next() {
		rec := r.Record()
		if r.Position().Checkpoint {
			sawCheckpoint = true
		}
		switch Type(rec) {
		case RecordSeries:
			ss, err := DecodeSeries(nil, rec)
			require.NoError(t, err)
			for _, s := range ss {
				series[s.Ref] = s.Labels
			}
		case RecordSamples:
			samples, err = DecodeSamples(samples, rec)
			require.NoError(t, err)
		case RecordTombstones:
			tombs, err = DecodeTombstones(tombs, rec)
			require.NoError(t, err)
		}
	}
	require.NoError(t, r.Err())
	require.True(t, sawCheckpoint)
	require.Equal(t, through, r.Stats().Checkpoint)
	require.Len(t, series, 5)
	require.Equal(t, "recycled", series[4].Get("__name__"))
	require.Len(t, samples, 5*10+1)
	for _, s := range samples[:50] {
		require.True(t, even(s.Ref) && s.T >= 10)
	}
	require.Equal(t, []Tombstone{{Ref: 2, MinT: 0, MaxT: 3}}, tombs)

	segs, err := listSegments(vfs.OS, dir)
	require.NoError(t, err)
	require.Greater(t, segs[0], through, "segments up to the checkpoint are gone")

	// A second checkpoint replaces the first.
	w, err = Open(dir, Options{Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	require.NoError(t, w.Log(ctx, idRecord(5)))
	through2, err := w.Rotate(ctx)
	require.NoError(t, err)
	_, err = Checkpoint(dir, through2, CheckpointOptions{KeepSeries: even})
	require.NoError(t, err)
	require.NoError(t, w.Close())
	cps, err := listCheckpoints(vfs.OS, dir)
	require.NoError(t, err)
	require.Equal(t, []int{through2}, cps)
	_, err = Checkpoint(dir, through2, CheckpointOptions{})
	require.Error(t, err, "a checkpoint must move forward")
}

func TestTruncate_NeedsCheckpoint(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, Options{}, idRecord(1))
	require.ErrorIs(t, Truncate(dir, 0, nil), ErrNoCheckpoint)
	segs, err := listSegments(vfs.OS, dir)
	require.NoError(t, err)
	require.Equal(t, []int{0}, segs)
}
