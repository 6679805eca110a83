// Package shard is the shard actor: one goroutine that owns a shard's head
// (series registry, open chunks), its write-ahead log, its postings, its
// chunk writer and its share of flushing and compaction.
//
// No goroutine other than the shard's own mutates its state.
package shard
