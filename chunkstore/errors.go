package chunkstore

import (
	"errors"
	"strconv"
)

var (
	// ErrCorrupt marks every error caused by damaged bytes. Test with
	// errors.Is; the concrete error is a *CorruptionError.
	ErrCorrupt = errors.New("chunkstore: corrupt data")
	// ErrUnknownEncoding is returned when a chunk's encoding byte names an
	// encoding this version cannot decode. The record framing is intact, so
	// a reader may skip the chunk (docs/format/chunks.md §Encodings).
	ErrUnknownEncoding = errors.New("chunkstore: unknown chunk encoding")
)

// CorruptionError reports damaged bytes: where they are and what was wrong.
// errors.Is(err, ErrCorrupt) is true for it; Unwrap returns Err.
type CorruptionError struct {
	// File names the file the bytes came from; empty when the caller did
	// not say (the codec sees only byte slices). Callers that read files
	// fill it in when they wrap.
	File string
	// Offset is the byte offset of the damage: absolute within the src
	// passed to DecodeRecord, or within Chunk.Data for iterator errors.
	Offset int64
	// Err says what was wrong.
	Err error
}

func (e *CorruptionError) Error() string {
	s := "chunkstore: corruption"
	if e.File != "" {
		s += " in " + e.File
	}
	s += " at offset " + strconv.FormatInt(e.Offset, 10)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

func corruptf(off int, err error) error {
	return &CorruptionError{Offset: int64(off), Err: err}
}

// Causes used inside CorruptionError.Err. Not exported: callers test for
// ErrCorrupt, the text is for humans.
var (
	errTruncated     = errors.New("truncated")
	errTrailing      = errors.New("trailing bytes after the last sample")
	errBadPadding    = errors.New("non-zero padding bits after the last sample")
	errBadVarint     = errors.New("malformed varint")
	errCRC           = errors.New("crc32c mismatch")
	errMaxTMismatch  = errors.New("last timestamp differs from chunk MaxT")
	errRecordTooBig  = errors.New("record length exceeds limit")
	errCountTooLarge = errors.New("sample count exceeds what the payload can hold")
	errBadOffset     = errors.New("offset outside the buffer")
	errEmptyPayload  = errors.New("payload present for a chunk with zero samples")
)
