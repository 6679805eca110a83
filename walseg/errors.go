package walseg

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrCorrupt marks every error caused by bytes on disk that do not
	// parse or fail their CRC; a *CorruptionError matches it.
	ErrCorrupt = errors.New("walseg: corrupt")
	// ErrClosed is returned by writer methods called after Close.
	ErrClosed = errors.New("walseg: writer closed")
	// ErrPoisoned wraps the first write, fsync or rotation error; once a
	// writer is poisoned every later call and every waiter gets it.
	ErrPoisoned = errors.New("walseg: writer poisoned by an earlier I/O error")
	// ErrInvalidRecord is returned for an empty record or one whose first
	// byte is RecordInvalid.
	ErrInvalidRecord = errors.New("walseg: invalid record")
	// ErrRecordTooLarge is returned for a record body above MaxRecordSize.
	ErrRecordTooLarge = errors.New("walseg: record too large")
	// ErrUnsupportedVersion is returned for a segment written by a newer
	// format version; it is never skipped, even without Strict.
	ErrUnsupportedVersion = errors.New("walseg: unsupported segment format version")
	// ErrNoCheckpoint is returned by Truncate when no checkpoint covers the
	// segments it was asked to remove.
	ErrNoCheckpoint = errors.New("walseg: no checkpoint covers the segments")
)

// CorruptionError reports a record that failed to parse, with where it was.
// errors.Is(err, ErrCorrupt) is true for it; Unwrap returns the cause.
type CorruptionError struct {
	File    string // path of the segment file
	Segment int    // segment number
	Offset  int64  // byte offset of the frame that failed, from the file start
	Err     error  // the cause (never nil)
}

// Error implements error.
func (e *CorruptionError) Error() string {
	return fmt.Sprintf("walseg: corrupt segment %d (%s) at offset %d: %s", e.Segment, e.File, e.Offset, e.Err.Error())
}

// Unwrap returns the cause.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// errDecode builds a decoder error: always ErrCorrupt-marked, naming the
// byte offset inside the record.
func errDecode(what string, off int) error {
	return fmt.Errorf("%w: record: %s at byte %d", ErrCorrupt, what, off)
}
