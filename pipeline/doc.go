// Package pipeline is the engine handle: Open, Append, Querier and Close.
//
// It owns the wiring of stage goroutines to shard actors, the lifecycle of
// both (ordered drain on Close) and the shards.json file that fixes the shard
// count of a data directory. It does not own any on-disk format other than
// shards.json, and it never touches shard state directly.
package pipeline
