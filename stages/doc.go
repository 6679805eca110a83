// Package stages holds the goroutine stages in front of the shards (parse,
// route, batch) and the message types they pass to shard inboxes.
//
// Stages never import package shard: the shard depends on the message types
// defined here, not the other way round.
package stages
