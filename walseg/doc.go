// Package walseg is Silverback's segmented write-ahead log: one per shard,
// in data/shards/NN/wal/. It owns the record encodings (series, samples,
// tombstones), their framing (type, codec, length, CRC32C), compression,
// segment files and their rotation, replay with torn-tail repair,
// checkpoints and truncation. The byte layout is specified in
// docs/format/wal.md; format.go holds its constants.
//
// It does not own what records mean: the shard decides what to log, how to
// apply replayed records to its head, and which series and samples a
// checkpoint keeps. It does not register Prometheus metrics: Metrics holds
// typed atomics that another package exports.
//
// # Writing
//
// Open a Writer on the directory (after replaying it). Two calling styles
// share one group-commit pipeline (see the design block on Writer):
//
//   - the shard owner enqueues without waiting — seq, err := w.Write(recs...)
//     — and another goroutine later calls w.WaitDurable(ctx, seq) before
//     acknowledging the appenders; Write blocks only when MaxPendingBytes
//     of encoded records are waiting (backpressure, never unbounded memory);
//   - any number of goroutines call w.Log(ctx, recs...), which blocks until
//     durable; callers waiting together share one write(2) and at most one
//     fsync.
//
// Records are encoded by the caller with AppendSeries, AppendSamples and
// AppendTombstones (allocation-free for samples and tombstones) and may be
// reused once Write returns. A record never spans segments; one larger than
// the segment size gets a segment of its own.
//
// # Durability per SyncMode
//
// "Acknowledged" means WaitDurable (or Log) returned nil for the record.
//
//	mode    ack after             process crash (SIGKILL)   power loss / kernel crash
//	always  fsync of the segment  acked records survive     acked records survive
//	batch   write(2)              acked records survive     records acked in the last
//	                                                        SyncInterval (10ms) may be lost
//	none    write(2)              acked records survive     anything since the last Sync,
//	                                                        Close or kernel writeback may be lost
//
// In every mode Close writes and fsyncs everything pending, sealed segments
// are fsynced before the next one is created (except in none), and a new
// segment's directory entry is fsynced before records in it are
// acknowledged (always; batch: before the fsync that makes them durable,
// so for the segment Open creates, whose header, directory entry and
// predecessor's seal wait for the writer's first fsync, the loss window
// stays the sync interval). After a power loss the lost part is always a
// suffix of the log, cut by replay as a torn tail.
//
// Errors: the first failed write, fsync, segment creation or close poisons
// the Writer. Every waiter whose record was not yet acknowledged, every
// later call, and Close get that error (errors.Is(err, ErrPoisoned), with
// the cause wrapped); a durability error is never only logged. Records
// acknowledged before the failure stay acknowledged.
//
// # Replay
//
// OpenReader streams records in order: the newest checkpoint's segments,
// then the directory's segments numbered after that checkpoint. Record()
// returns the record's type byte followed by its body; the bytes are valid
// until the next Next. Apply records in order with these rules:
//
//   - a series record binds a ref to labels; a later series record for the
//     same ref supersedes the earlier one (the head recycles refs of
//     garbage-collected series), so samples and tombstones refer to the
//     latest binding before them;
//   - records of unknown types are returned as is; skip them.
//
// Damage handling: a torn or garbage tail of the last segment (a failed
// frame anywhere in it) is cut back to the end of the last good record,
// logged at Warn, counted in ReplayStats.TornTail/TornBytes and
// Metrics.TornTailsRepaired, and the file is truncated (unless ReadOnly),
// so the next Open appends after clean data. A bad frame in an earlier
// segment, or a missing segment number, ends that segment: replay reports
// it in ReplayStats.Skipped (segment, offset, bytes skipped) and continues
// with the next segment; ReaderOptions.Strict fails with the
// *CorruptionError instead. Every corruption error matches ErrCorrupt.
// Nothing in this package panics on any input bytes.
//
// # Checkpoints and truncation
//
// To bound replay time the shard periodically calls w.Rotate (sealing the
// segments written so far), then Checkpoint(dir, sealed, keep) and
// Truncate(dir, sealed). Checkpoint writes checkpoint.NNNNNNNN/ (NNNNNNNN =
// the last segment covered) with the series, samples and tombstones its
// predicates keep, in their original order, via a temporary directory,
// fsync, rename and directory fsync; it then removes older checkpoints.
// Truncate removes segments <= sealed and refuses unless a checkpoint
// covers them. A crash at any step leaves a consistent directory: replay
// uses the newest complete checkpoint and ignores segments it covers.
//
// # File system
//
// Every file operation goes through Options.FS / ReaderOptions.FS /
// CheckpointOptions.FS (internal/vfs; default the OS). The power-cut test
// (powercut_test.go) runs the writer, checkpoints and truncation over
// vfs.MemFS, cuts power at hundreds of random operations and checks that
// replay returns every acknowledged record (SyncAlways) or loses only
// records acknowledged after the last fsync (SyncBatch); it fails when the
// fsyncs are removed (TestPowerCut_FailsWithoutFsync, and by hand: replace
// the f.Sync call in Writer.fsync and run go test -run TestPowerCut).
// TestPowerCut_Reopen does the same for a second run over an existing WAL,
// the case of Open's deferred fsyncs (powercut_reopen_test.go).
//
// # Concurrency
//
// Writer is safe for concurrent use; it runs one flusher goroutine, which
// Close waits for. A Reader is owned by one goroutine. Checkpoint and
// Truncate may run on a goroutine other than the Writer's, concurrently
// with it, but not concurrently with each other on the same directory.
// The record codecs are pure functions, safe everywhere; decoders never
// write into their input.
package walseg
