package walseg

import "sync/atomic"

// Metrics are the WAL's counters for a /metrics page. One Metrics is meant
// to be shared by the writer, replay and checkpoints of one WAL directory
// (pass it in their options); all fields are safe for concurrent use and
// only ever increase, except PendingBytes, which is a gauge.
type Metrics struct {
	// Writer.
	RecordsWritten    atomic.Uint64 // records accepted by Write
	BytesWritten      atomic.Uint64 // frame bytes handed to write(2), headers included
	RecordsCompressed atomic.Uint64 // records stored with a codec other than CodecNone
	Groups            atomic.Uint64 // write(2) rounds of the group-commit flusher
	Fsyncs            atomic.Uint64 // fsyncs of segment files
	FsyncNanos        atomic.Int64  // total time spent in segment fsyncs, ns
	SegmentsCreated   atomic.Uint64 // segment files created by writers
	WriteErrors       atomic.Uint64 // write, fsync or rotation failures (each poisons a writer)
	PendingBytes      atomic.Int64  // gauge: encoded bytes waiting for the flusher

	// Replay and repair.
	RecordsReplayed         atomic.Uint64 // records returned by readers
	TornTailsRepaired       atomic.Uint64 // last segments cut back to their last good record
	TornBytesCut            atomic.Uint64 // bytes removed by those cuts
	CorruptRecordsSkipped   atomic.Uint64 // damaged parts skipped (each quarantined when followed by good records)
	CorruptBytesQuarantined atomic.Uint64 // damaged bytes moved to wal/quarantine/ with good records after them
	SegmentsMissing         atomic.Uint64 // segment numbers found missing at replay (gap, deleted checkpoint, lost last segment)

	// Checkpoints and truncation.
	Checkpoints       atomic.Uint64 // checkpoints completed
	SegmentsTruncated atomic.Uint64 // segment files removed by Truncate
}
