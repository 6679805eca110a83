package walseg

// On-disk constants of the WAL. Every value here is specified in
// docs/format/wal.md; the section is named on each group. Changing any of
// them is a format change (see "Version history" there).

// Segment files (docs/format/wal.md §1 "Directory layout").
const (
	// segmentNameDigits is the width of a segment file name: the segment
	// number in decimal, zero-padded ("00000042").
	segmentNameDigits = 8
	// checkpointPrefix starts the name of a checkpoint directory; the
	// suffix is the last segment number it covers, segmentNameDigits wide.
	checkpointPrefix = "checkpoint."
	// DefaultSegmentSize is the size at which the writer starts a new
	// segment (128 MiB).
	DefaultSegmentSize = 128 << 20
)

// Segment header (docs/format/wal.md §2 "Segment header").
const (
	// segmentMagic is "SBWL" read as a big-endian uint32.
	segmentMagic uint32 = 0x5342574C
	// FormatVersion is the segment format version this package writes and
	// the only one it reads.
	FormatVersion byte = 1
	// segmentHeaderSize: magic <4b BE>, version <1b>, reserved <3b, zero>.
	segmentHeaderSize = 8
)

// Record frame (docs/format/wal.md §3 "Record frame").
const (
	// frameHeaderSize: type <1b>, codec <1b>, length <4b LE>, CRC32C <4b LE>.
	frameHeaderSize = 10
	// frameCRCOffset is where the CRC field starts; the CRC covers the
	// six header bytes before it and then the stored payload.
	frameCRCOffset = 6
	// MaxRecordSize bounds a record's body (type byte excluded), both as
	// stored and after decompression: 64 MiB. Readers reject larger lengths
	// as corruption, which bounds the memory a garbage length can claim.
	MaxRecordSize = 64 << 20
)

// Codec says how a frame's payload is stored (docs/format/wal.md §3.1).
type Codec byte

// Codecs. The writer uses CodecS2 by default for bodies of at least
// Options.CompressMinBytes when that makes them smaller; CodecZstd is
// available through Options.Compression and always readable. See
// docs/format/wal.md §3.1 for the measurement behind the default.
const (
	CodecNone Codec = 0 // payload stored as is
	CodecZstd Codec = 1 // one zstd frame (RFC 8878), no dictionary
	CodecS2   Codec = 2 // one S2 block (a superset of the snappy block format)
)

// RecordType is the first byte of every logical record and is stored in the
// frame's type field (docs/format/wal.md §4 "Record bodies").
type RecordType byte

// Record types. Zero is invalid so that a zeroed page never parses as a
// record. Types 6..255 are reserved; readers return them unchanged and
// checkpoints copy them.
const (
	RecordInvalid    RecordType = 0
	RecordSeries     RecordType = 1 // §4.1
	RecordSamples    RecordType = 2 // §4.2
	RecordTombstones RecordType = 3 // §4.3
	// RecordSegmentEnd is the last frame of a sealed segment; its body is
	// the number of the segment that follows (uvarint). The writer adds it
	// once that segment exists, so a reader that finds it and no such
	// segment knows the segment was lost (§4.4). Readers consume it: Next
	// never returns it, and checkpoints do not copy it.
	RecordSegmentEnd RecordType = 4
	// RecordOOOSamples holds late samples (older than their series' last
	// sample or than the head's lower bound) for the out-of-order head;
	// its body is a samples body (§4.6). Added with issue 12: an older
	// reader refuses it (unknown record type at replay).
	RecordOOOSamples RecordType = 5
)

// String returns the record type's name for logs and errors.
func (t RecordType) String() string {
	switch t {
	case RecordSeries:
		return "series"
	case RecordSamples:
		return "samples"
	case RecordTombstones:
		return "tombstones"
	case RecordSegmentEnd:
		return "segment end"
	case RecordOOOSamples:
		return "ooo samples"
	case RecordInvalid:
		return "invalid"
	default:
		return "unknown"
	}
}
