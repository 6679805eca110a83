package shard

import (
	"context"
	"fmt"

	"go.uber.org/zap"
)

// Periodic head snapshots.
//
// A crash restart used to replay the whole WAL (since the last head cut's
// checkpoint: up to 1.5 block ranges of samples), at ~90 CPU-ms per million
// samples. The shard now also writes head.snapshot while it runs, in the
// format of the clean-shutdown snapshot (docs/format/head_snapshot.md), so a
// crash restart loads the newest one and replays only the WAL segments
// written after it.
//
// Order of events for one snapshot (a background job, so it never overlaps
// a head cut, a history cut or a compaction):
//  1. Shard goroutine (planHeadSnapshot): Seal the WAL, so every record
//     logged so far is in segments ≤ sealed and every later one in a later
//     segment; copy the head's state (captureHead, O(series)) and take
//     references on the head chunk files. Nothing waits for I/O.
//  2. Worker (runHeadSnapshot): Sync the WAL (so the successor segment the
//     snapshot points at exists on disk), fsync the listed head chunk
//     files up to their used sizes and their directory, then write the
//     snapshot through a temporary file, fsync, rename, fsync the directory.
//  3. Shard goroutine (apply): release the file references, reset the
//     counter that makes the next snapshot due.
//
// Invariants that keep a snapshot on disk valid until the next one:
//   - The head chunk bytes it names (each listed file up to its used size)
//     are never rewritten: the writer only appends after them, and files
//     are removed only by a head cut's publish, which runs after the cut
//     removed the snapshot (dropHeadSnapshot, first step of runHeadCut and
//     runHistoryCut), or by a full replay, which removes it first too.
//   - The WAL segments from its segment on are never truncated without a
//     cut, which removed it first.
//   - Late samples are not in the format: no snapshot is taken while the
//     out-of-order head holds any (the WAL keeps them; replay is then full).
//
// A crash at any step leaves either the previous snapshot (still valid by
// the invariants) or the new one, plus the WAL; TestHeadSnapshot_CrashAtEveryStep
// and TestShard_PowerCut/periodic check every acknowledged sample survives.

// DefaultHeadSnapshotSamplesPerSeries is Options.HeadSnapshotSamplesPerSeries'
// default. It bounds the WAL tail a crash restart replays to about 8
// samples per series (at 50,700 series 0.4 M samples). BenchmarkReplay
// crash-maxtail, CPU-ms per 1 M samples, target ≤ 20: 29–31 at 64,
// 14.5–23 at 16 (above 20 in 3 of 7 runs at load 25–31), 9.5–14.3 at 8.
// The snapshots' cost, O(series) per snapshot (~140 ns per series), is
// 4.4 % of BenchmarkAppend's CPU profile at 8, 2.9 % at 16 and 1.4 % at 64
// with labels before version 4 (PERFORMANCE.md; benchstat: +5 % median at
// both 16 and 8, not significant). Before the series file every snapshot
// re-encoded every series' labels, and 32 cost +11 % of ingest CPU.
const DefaultHeadSnapshotSamplesPerSeries = 8

// headSnapshotMinSeries is the series count below which the snapshot
// interval stops shrinking, so a tiny head is not snapshotted every append.
const headSnapshotMinSeries = 64

// headSnapshotDue is the cheap check after every append message.
func (s *Shard) headSnapshotDue() bool {
	per := s.opts.HeadSnapshotSamplesPerSeries
	if per < 0 {
		return false
	}
	return s.m.SamplesAppended.Load()-s.snapMark >= uint64(per)*uint64(max(s.head.active, headSnapshotMinSeries))
}

// planHeadSnapshot returns the job that writes a head snapshot if one is
// due and the format can hold the head (no late samples).
func (s *Shard) planHeadSnapshot() (job, bool) {
	if !s.headSnapshotDue() || s.ooo.n != 0 || s.oooCut != nil || s.err.Load() != nil {
		return job{}, false
	}
	sealed, ok := s.sealWAL("head snapshot")
	if !ok {
		return job{}, false
	}
	mark := s.m.SamplesAppended.Load()
	st, err := s.captureHead(sealed+1, true)
	if err != nil {
		// The WAL has everything; the next try waits a whole interval
		// rather than retrying after every append.
		s.log.Warn("head snapshot not taken", zap.Error(err))
		s.snapMark = mark
		return job{}, false
	}
	return job{
		undo: func(s *Shard) { st.release(s) },
		name: fmt.Sprintf("head snapshot of %d series from wal segment %d", st.nseries, st.fromSegment),
		run: func(ctx context.Context) (func(*Shard) error, error) {
			if err := s.runHeadSnapshot(ctx, st); err != nil {
				return nil, err
			}
			return func(s *Shard) error {
				st.release(s)
				s.snapMark = mark
				s.m.HeadSnapshotsWritten.Add(1)
				return nil
			}, nil
		},
	}, true
}

// runHeadSnapshot makes st durable. Runs on the worker goroutine.
func (s *Shard) runHeadSnapshot(ctx context.Context, st *headState) error {
	// The successor segment of the sealed ones must exist before a
	// snapshot points replay at it.
	if err := s.wal.Sync(ctx); err != nil {
		return fmt.Errorf("sync wal before head snapshot: %w", err)
	}
	s.crashPoint("wal synced")
	return s.writeHeadState(st)
}

// headSnapshotNow is a snapMark that makes a snapshot due at once: a cut
// removes the snapshot, and the next one should follow it.
func headSnapshotNow(s *Shard) uint64 { return s.m.SamplesAppended.Load() - 1<<63 }
