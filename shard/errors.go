package shard

import (
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
)

// ErrBatchTooLarge marks an append message over one of the batch bounds
// (Options.MaxBatchSeries, MaxBatchSamples, MaxBatchBytes); a
// *BatchTooLargeError matches it. Nothing of such a message is stored: the
// bound is checked before the head changes. Split the batch and retry.
var ErrBatchTooLarge = errors.New("shard: batch too large")

// ErrFailed marks the error of a shard that stopped accepting appends
// because its WAL or its head chunk files failed (see Shard.Err). It is
// cleared only by a restart, which rebuilds the head from the WAL.
var ErrFailed = errors.New("shard: failed")

// HeadChunkError is a damaged closed head chunk met by View.Chunks: the
// series' head samples in [MinT, MaxT] (ms; MaxT is the damaged chunk's end,
// known from the newer chunk's link) cannot be read until a restart rebuilds
// the head chunk files from the WAL. errors.Is(err, chunkstore.ErrCorrupt)
// holds through Unwrap.
type HeadChunkError struct {
	Shard      int
	Series     labels.Labels
	MinT, MaxT int64
	Err        error
}

// Error implements error.
func (e *HeadChunkError) Error() string {
	return fmt.Sprintf("shard %d series %s: head samples in [%d, %d] unreadable until a restart rebuilds them from the WAL: %s", e.Shard, e.Series, e.MinT, e.MaxT, e.Err.Error())
}

// Unwrap returns the cause.
func (e *HeadChunkError) Unwrap() error { return e.Err }

// BatchTooLargeError says which bound an append message exceeded.
type BatchTooLargeError struct {
	What   string // "series", "samples", "new series label bytes", "series label bytes"
	Got    int    // the message's count or bytes
	Max    int    // the bound
	Series int    // for a single series over the record limit: its index in the caller's batch; else -1
}

// Error implements error.
func (e *BatchTooLargeError) Error() string {
	if e.Series >= 0 {
		return fmt.Sprintf("shard: batch too large: series %d has %d %s, max %d", e.Series, e.Got, e.What, e.Max)
	}
	return fmt.Sprintf("shard: batch too large: %d %s, max %d", e.Got, e.What, e.Max)
}

// Is makes errors.Is(err, ErrBatchTooLarge) true.
func (e *BatchTooLargeError) Is(target error) bool { return target == ErrBatchTooLarge }
