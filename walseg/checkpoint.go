package walseg

import (
	"fmt"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/internal/fsutil"
	"github.com/silverback-tsdb/tsdb/internal/vfs"
)

// CheckpointOptions select what a checkpoint keeps. Nil predicates drop
// every record of their kind.
type CheckpointOptions struct {
	// KeepSeries reports whether the series ref is still alive in the head.
	KeepSeries func(ref uint32) bool
	// KeepSample reports whether a sample is still needed (typically
	// s.T >= the head's minimum time and its series alive).
	KeepSample func(s RefSample) bool
	// KeepTombstone reports whether a tombstone is still needed.
	KeepTombstone func(t Tombstone) bool
	// KeepOOOSample reports whether an out-of-order sample
	// (RecordOOOSamples) is still needed; nil drops them all.
	KeepOOOSample func(s RefSample) bool
	// Logger receives checkpoint events (default zap.NewNop()).
	Logger *zap.Logger
	// Metrics receives the counters (default: a private Metrics).
	Metrics *Metrics
	// FS is the file system (default vfs.OS).
	FS vfs.FS
}

// CheckpointStats describe a finished checkpoint.
type CheckpointStats struct {
	Through                     int    // last segment covered; the directory is checkpoint.<Through>
	RecordsIn, RecordsOut       uint64 // records read and written
	SeriesIn, SeriesOut         uint64
	SamplesIn, SamplesOut       uint64
	TombstonesIn, TombstonesOut uint64
	Replay                      ReplayStats // what reading the input found
}

// Checkpoint compacts the newest existing checkpoint plus segments up to
// and including through into a new checkpoint directory
// checkpoint.<through>: series records whose ref KeepSeries keeps, samples
// and tombstones the predicates keep, and records of unknown types
// unchanged, all in their original order (so the rule "a later series
// record for a ref supersedes an earlier one" keeps holding on replay).
//
// Segments <= through must be complete: no writer may still append to
// them (with a live Writer: through is what w.Rotate returned). The new
// checkpoint is built in a temporary directory, fsynced, renamed and the
// WAL directory fsynced; then older checkpoints are removed. A crash at any
// point leaves either the old or the new checkpoint in force. Corrupt
// records in the input are skipped and reported in Replay (they are
// already lost); Checkpoint does not remove segments: call Truncate.
// It must not run concurrently with another Checkpoint or Truncate of dir.
func Checkpoint(dir string, through int, o CheckpointOptions) (CheckpointStats, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = &Metrics{}
	}
	st := CheckpointStats{Through: through}
	fsys := vfs.Or(o.FS)
	if cp, ok, err := lastCheckpoint(fsys, dir); err != nil {
		return st, err
	} else if ok && cp >= through {
		return st, fmt.Errorf("checkpoint through segment %d: checkpoint %d already covers it", through, cp)
	}
	r, err := openReader(dir, ReaderOptions{Logger: o.Logger, Metrics: o.Metrics, FS: fsys}, through)
	if err != nil {
		return st, err
	}
	defer r.Close()

	final := filepath.Join(dir, checkpointName(through))
	tmp := final + fsutil.TmpSuffix
	if err := fsys.RemoveAll(tmp); err != nil {
		return st, fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	// NB: SyncNone: the checkpoint is made durable once, by Close's fsync
	// and the directory fsyncs below, not per record.
	w, err := Open(tmp, Options{Sync: SyncNone, Logger: o.Logger, FS: fsys})
	if err != nil {
		return st, err
	}
	if err := copyKept(r, w, o, &st); err != nil {
		_ = w.Close()
		_ = fsys.RemoveAll(tmp)
		return st, err
	}
	if err := w.Close(); err != nil {
		_ = fsys.RemoveAll(tmp)
		return st, fmt.Errorf("close checkpoint %d: %w", through, err)
	}
	// Close fsynced the last segment; SyncNone sealed the others without.
	if err := syncSegments(fsys, tmp); err != nil {
		return st, fmt.Errorf("checkpoint %d: %w", through, err)
	}
	if err := fsys.SyncDir(tmp); err != nil {
		return st, err
	}
	if err := vfs.Rename(fsys, tmp, final); err != nil {
		return st, err
	}
	st.Replay = r.Stats()
	o.Metrics.Checkpoints.Add(1)
	cps, err := listCheckpoints(fsys, dir)
	if err != nil {
		return st, err
	}
	for _, cp := range cps {
		if cp < through {
			if err := fsys.RemoveAll(filepath.Join(dir, checkpointName(cp))); err != nil {
				return st, fmt.Errorf("remove old checkpoint %d: %w", cp, err)
			}
		}
	}
	o.Logger.Named("walseg").Info("wal checkpoint done", zap.Int("segment", through),
		zap.Uint64("records_in", st.RecordsIn), zap.Uint64("records_out", st.RecordsOut))
	return st, nil
}

// keep returns the elements of in for which pred holds, in order, filtered
// in place (it reuses in's array). A nil pred keeps nothing, as a nil
// CheckpointOptions predicate does.
func keep[T any](in []T, pred func(T) bool) []T {
	out := in[:0]
	if pred == nil {
		return out
	}
	for _, x := range in {
		if pred(x) {
			out = append(out, x)
		}
	}
	return out
}

// copyKept filters the records of r into w.
func copyKept(r *Reader, w *Writer, o CheckpointOptions, st *CheckpointStats) error {
	var (
		series  []RefSeries
		samples []RefSample
		tombs   []Tombstone
		buf     []byte
	)
	var keepSeries func(RefSeries) bool
	if o.KeepSeries != nil {
		keepSeries = func(s RefSeries) bool { return o.KeepSeries(s.Ref) }
	}
	for r.Next() {
		rec := r.Record()
		st.RecordsIn++
		pos := r.Position()
		var err error
		buf = buf[:0]
		switch Type(rec) {
		case RecordSeries:
			series, err = DecodeSeries(series[:0], rec)
			kept := keep(series, keepSeries)
			st.SeriesIn += uint64(len(series))
			st.SeriesOut += uint64(len(kept))
			if len(kept) > 0 {
				buf = AppendSeries(buf, kept)
			}
		case RecordSamples:
			samples, err = DecodeSamples(samples[:0], rec)
			kept := keep(samples, o.KeepSample)
			st.SamplesIn += uint64(len(samples))
			st.SamplesOut += uint64(len(kept))
			if len(kept) > 0 {
				buf = AppendSamples(buf, kept)
			}
		case RecordOOOSamples:
			samples, err = DecodeOOOSamples(samples[:0], rec)
			kept := keep(samples, o.KeepOOOSample)
			st.SamplesIn += uint64(len(samples))
			st.SamplesOut += uint64(len(kept))
			if len(kept) > 0 {
				buf = AppendOOOSamples(buf, kept)
			}
		case RecordTombstones:
			tombs, err = DecodeTombstones(tombs[:0], rec)
			kept := keep(tombs, o.KeepTombstone)
			st.TombstonesIn += uint64(len(tombs))
			st.TombstonesOut += uint64(len(kept))
			if len(kept) > 0 {
				buf = AppendTombstones(buf, kept)
			}
		default:
			buf = append(buf, rec...) // unknown type: kept as is for newer readers
		}
		if err != nil {
			// A frame with a good CRC but a bad body is a writer bug, not
			// disk damage; refuse to drop it silently.
			return fmt.Errorf("checkpoint: decode record at segment %d offset %d: %w", pos.Segment, pos.Offset, err)
		}
		if len(buf) == 0 {
			continue
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("checkpoint: write: %w", err)
		}
		st.RecordsOut++
	}
	return r.Err()
}

// Truncate removes the segments of dir numbered <= through. It refuses with
// ErrNoCheckpoint unless a checkpoint covering through exists, so no record
// is lost, and it fsyncs dir afterwards. It must not run concurrently with
// Checkpoint on dir; a live Writer is unaffected as long as through is below
// its current segment.
// m receives SegmentsTruncated and may be nil.
func Truncate(dir string, through int, m *Metrics) error {
	return TruncateFS(vfs.OS, dir, through, m)
}

// TruncateFS is Truncate on the file system fsys.
func TruncateFS(fsys vfs.FS, dir string, through int, m *Metrics) error {
	cp, ok, err := lastCheckpoint(fsys, dir)
	if err != nil {
		return err
	}
	if !ok || cp < through {
		return fmt.Errorf("truncate through segment %d: %w", through, ErrNoCheckpoint)
	}
	if m == nil {
		m = &Metrics{}
	}
	segs, err := listSegments(fsys, dir)
	if err != nil {
		return err
	}
	removed := 0
	for _, s := range segs {
		if s > through {
			break
		}
		if err := fsys.Remove(filepath.Join(dir, segmentName(s))); err != nil {
			return fmt.Errorf("truncate segment %d: %w", s, err)
		}
		removed++
		m.SegmentsTruncated.Add(1)
	}
	if removed == 0 {
		return nil
	}
	return fsys.SyncDir(dir)
}

// syncSegments fsyncs every segment file in dir.
func syncSegments(fsys vfs.FS, dir string) error {
	segs, err := listSegments(fsys, dir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		f, err := vfs.Open(fsys, filepath.Join(dir, segmentName(s)))
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("fsync segment %d: %w", s, err)
		}
	}
	return nil
}
