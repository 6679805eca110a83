package stages

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidSeries marks a series whose labels break the data model
	// rules (empty or missing metric name, invalid label name, duplicate
	// label names, names or values over the limits). Its typed form is
	// *SeriesError.
	ErrInvalidSeries = errors.New("stages: invalid series")
	// ErrInvalidBatch marks a batch that is malformed as a whole (nil, or
	// a sample that names a series the batch does not have). Its typed
	// form is *BatchError.
	ErrInvalidBatch = errors.New("stages: invalid batch")
	// ErrStaleRoute marks a shard message that named a series by a route
	// hint alone (no labels) whose series the shard no longer has: it was
	// dropped (head garbage collection) after the route was learnt. The
	// shard stored nothing of the message; its reply marks those series
	// RefStale, Router.Unlearn drops their routes and marks every series
	// of the message Series.Refused, and appending those series' samples
	// again with labels (or retrying the batch: the parser builds the
	// labels on the miss) succeeds. Retrying is safe. Router.Forget makes
	// it rare: only a route looked up just before its series was dropped
	// meets it.
	ErrStaleRoute = errors.New("stages: stale route: the series was dropped; retry")
)

// BatchError is the typed form of ErrInvalidBatch: which sample of the
// caller's Batch named which series (Sample -1: the batch itself is nil).
// Nothing of such a batch is stored.
type BatchError struct {
	Sample    int    // index into Batch.Samples; -1 for a nil batch
	Series    uint32 // the series index the sample named
	NumSeries int    // len(Batch.Series)
}

func (e *BatchError) Error() string {
	if e.Sample < 0 {
		return ErrInvalidBatch.Error() + ": nil batch"
	}
	return fmt.Sprintf("%s: sample %d names series %d, batch has %d", ErrInvalidBatch, e.Sample, e.Series, e.NumSeries)
}

// Unwrap makes errors.Is(err, ErrInvalidBatch) hold.
func (e *BatchError) Unwrap() error { return ErrInvalidBatch }
