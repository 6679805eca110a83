package postings

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt marks every error caused by bytes that do not follow
	// docs/format/index.md. Test with errors.Is; the concrete error is a
	// *CorruptionError naming the offset.
	ErrCorrupt = errors.New("postings: corrupt index")

	// ErrUnsupportedVersion is returned by NewReader for a well-formed header
	// whose version this build does not read.
	ErrUnsupportedVersion = errors.New("postings: unsupported index version")

	// ErrEmptyMatch is returned by Select when no matcher of the selector
	// rejects the empty string, so the selector would match every series
	// (Prometheus refuses such selectors too, e.g. {a=""} or {a=~".*"}).
	ErrEmptyMatch = errors.New("postings: selector needs at least one matcher that does not match the empty string")
)

// CorruptionError describes bytes of a serialized index that cannot be
// decoded. errors.Is(err, ErrCorrupt) is true for it; Unwrap returns the
// underlying cause.
type CorruptionError struct {
	// Section names the part of the format (see docs/format/index.md) being
	// decoded: "header", "toc", "symbols", "postings", "label index".
	Section string
	// Offset is the byte offset from the start of the serialized index at
	// which decoding failed.
	Offset int64
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *CorruptionError) Error() string {
	return fmt.Sprintf("postings: corrupt index: %s at offset %d: %v", e.Section, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true for every CorruptionError.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

func corruptf(section string, off int64, format string, args ...any) error {
	return &CorruptionError{Section: section, Offset: off, Err: fmt.Errorf(format, args...)}
}
