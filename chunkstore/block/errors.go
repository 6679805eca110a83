package block

import (
	"errors"
	"strconv"
)

var (
	// ErrCorrupt marks every error caused by damaged bytes in a block: test
	// with errors.Is. The concrete error is a *CorruptionError naming the
	// file and offset. When the damage was found by package chunkstore or
	// postings, their ErrCorrupt matches too (the cause is wrapped).
	ErrCorrupt = errors.New("block: corrupt")

	// ErrUnsupportedVersion is returned when a well-formed file carries a
	// version this build does not read (meta.json, index, chunk segment or
	// tombstones). It is not ErrCorrupt: the bytes may be fine for a newer
	// build.
	ErrUnsupportedVersion = errors.New("block: unsupported version")

	// ErrClosed is returned by reads on a block whose last reference was
	// released (callers must hold a reference: see Block.Acquire).
	ErrClosed = errors.New("block: closed")

	// ErrOutOfOrder is returned by Writer.AddSeries when label sets are not
	// strictly increasing or chunks are not time-ordered and disjoint.
	ErrOutOfOrder = errors.New("block: series or chunks out of order")

	// ErrInvalidLabels is returned by Writer.AddSeries for a label set that
	// is empty, has an empty name or value (an empty value means "absent"
	// and must be dropped by the caller) or is not sorted by unique names.
	ErrInvalidLabels = errors.New("block: invalid label set")

	// ErrOutOfBounds is returned by Writer.AddSeries for a chunk outside the
	// block's half-open time range [mint, maxt).
	ErrOutOfBounds = errors.New("block: chunk outside the block time range")

	// ErrNotFound is returned by Block.Series for a ref the block does not
	// hold.
	ErrNotFound = errors.New("block: series not found")

	// ErrFinished is returned by Writer methods after Finish or Abort.
	ErrFinished = errors.New("block: writer already finished")

	// ErrNoTimestampsSection is returned by Writer.AddTimestamps, and by
	// AddSeries for a shared-timestamp chunk, when the writer was not
	// created with WriterOptions.SharedTimestamps (index version 1 has no
	// timestamps section).
	ErrNoTimestampsSection = errors.New("block: writer has no timestamps section")

	// ErrBadColumn is returned by Writer.AddTimestamps for a chunk that is
	// not a non-empty timestamp column, and by AddSeries for a
	// shared-timestamp chunk whose column reference names no column of the
	// writer with exactly the chunk's count and time range.
	ErrBadColumn = errors.New("block: invalid timestamp column")
)

// CorruptionError reports damaged bytes in a block: which block, which file,
// where, and what was wrong. errors.Is(err, ErrCorrupt) is true for it;
// Unwrap returns Err (which may itself be a chunkstore or postings
// corruption error).
type CorruptionError struct {
	// Block is the block's directory (its last element is the ULID).
	Block string
	// File is the file inside the block directory, e.g. "index",
	// "chunks/000001", "meta.json", "tombstones".
	File string
	// Offset is the byte offset of the damage from the start of File, or -1
	// when the damage has no single position (e.g. a missing file).
	Offset int64
	// Err says what was wrong.
	Err error
}

// Error implements error.
func (e *CorruptionError) Error() string {
	s := "block: corruption in " + e.Block + "/" + e.File
	if e.Offset >= 0 {
		s += " at offset " + strconv.FormatInt(e.Offset, 10)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// Causes used inside CorruptionError.Err; callers test for ErrCorrupt.
var (
	errTruncated  = errors.New("truncated")
	errCRC        = errors.New("crc32c mismatch")
	errBadVarint  = errors.New("malformed varint")
	errBadMagic   = errors.New("bad magic")
	errReserved   = errors.New("reserved bytes are not zero")
	errBadRef     = errors.New("chunk ref outside the block")
	errTrailing   = errors.New("trailing bytes")
	errMetaCheck  = errors.New("meta.json checksum mismatch")
	errMismatch   = errors.New("inconsistent with the index")
	errBadSymbol  = errors.New("symbol id out of range")
	errBadLabels  = errors.New("labels not sorted or empty")
	errBadChunks  = errors.New("chunk metas not time-ordered")
	errBadOffsets = errors.New("series offsets not increasing")
)
