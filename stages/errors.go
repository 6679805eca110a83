package stages

import "errors"

var (
	// ErrInvalidSeries marks a series whose labels break the data model
	// rules (empty or missing metric name, invalid label name, duplicate
	// label names, names or values over the limits).
	ErrInvalidSeries = errors.New("stages: invalid series")
	// ErrInvalidBatch marks a batch that is malformed as a whole (a sample
	// that names a series the batch does not have).
	ErrInvalidBatch = errors.New("stages: invalid batch")
)
