// Package pipeline is the engine handle: Open, Append, Querier and Close.
//
// It owns the wiring of the router to the shard actors, their lifecycle
// (ordered drain on Close), the data directory's lock and its shards.json
// (docs/format/shards.md), and the tsdb_* self-metrics. It never touches
// shard state directly: appends travel to shards as messages on bounded
// inboxes, reads as View requests.
//
// # Append
//
// Append splits a batch by series hash (stages.Router), sends each shard its
// part on the shard's bounded inbox, waits for every reply, then waits until
// each shard's WAL holds the records durably per the sync mode. A full inbox
// blocks until the context ends; the result is then ErrOverloaded (a shard
// that took its part but did not answer in time: ErrUnconfirmed), and parts
// already sent to other shards may be stored. Retrying is safe: nothing is
// stored twice, because a series only accepts timestamps after its last one
// (re-sending the last sample itself is a counted no-op; earlier ones are
// counted as out of order).
//
// # Reads
//
// Querier.Select fans out to every shard and merges their series by
// labels; SelectHinted takes the evaluation's step grid and window
// (SelectHints) and leaves out chunks no window needs; SelectShards hands
// each shard's series to the caller on that shard's fan-out goroutine
// instead of merging them (the query engine's push-down point).
// SampleIterator.Fill fills evaluation windows from decoded chunks in
// place.
//
// # Close
//
// Close stops intake (new Appends get ErrClosed), waits for in-flight
// Appends, closes each inbox (the pipeline is the inboxes' only closer),
// and waits for each shard to drain, sync its WAL and close its files.
// Queriers may outlive Close: mapped files are unmapped when the last
// querier releases them.
//
// # Concurrency
//
// DB is safe for concurrent use. A Querier and the SeriesSet it returns are
// owned by one goroutine.
package pipeline
