package pipeline

import "errors"

var (
	// ErrOverloaded is returned when a shard inbox stayed full until the
	// caller's context ended. HTTP maps it to 503 with Retry-After.
	ErrOverloaded = errors.New("pipeline: overloaded")
	// ErrUnconfirmed is returned when the caller's context ended after a
	// shard took samples from its inbox (or queued them) but before it
	// answered: the samples may be stored or not, and retrying is safe
	// (nothing is stored twice). Unlike ErrOverloaded it says nothing
	// about the inbox; it wraps the context's error.
	ErrUnconfirmed = errors.New("pipeline: outcome unconfirmed")
	// ErrClosed is returned by Append and Querier after Close.
	ErrClosed = errors.New("pipeline: closed")
	// ErrShardCount is returned by Open when the options ask for another
	// shard count than the data directory was created with.
	ErrShardCount = errors.New("pipeline: shard count mismatch")
	// ErrLocked is returned by Open when another process holds the data
	// directory.
	ErrLocked = errors.New("pipeline: data directory in use")
)
