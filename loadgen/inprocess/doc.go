// Package inprocess is loadgen's in-process target: it appends the
// generated stages.Batch values straight into a pipeline.DB, to measure the
// engine without HTTP.
//
// It is a package of its own because loadgen must not import pipeline:
// pipeline's, walseg's and chunkstore's tests import loadgen for its
// generators.
//
// # Concurrency
//
// A Target is safe for concurrent use (Send is pipeline.DB.Append, which
// is). Send reads the batch only during the call.
//
// # Results
//
// Samples the database rejects (out of order, duplicates with another
// value, limits) make Send return a RejectedError, so loadgen counts the
// request as failed; a request fails whole or not at all in the summary,
// although the engine stored the valid rest of it.
package inprocess
