// Package shard is the shard actor: one goroutine that owns a shard's head
// (series registry, open chunks, head postings, head tombstones), its
// write-ahead log writer, its mapped head chunk files and its blocks, and a
// worker goroutine for the background jobs that persist and compact them.
//
// It does not own on-disk formats other than the head chunk files
// (docs/format/head_chunks.md): chunks, WAL segments, postings and blocks are
// written through chunkstore, walseg, postings and chunkstore/block. It does
// not route: messages arrive already split by series hash (package stages).
//
// # Concurrency
//
// After Open, only the goroutine running Run touches the head, the WAL
// writer, the head chunk map and the block list. Other goroutines reach the
// shard three ways:
//
//   - appends: *stages.ShardBatch messages on the inbox given to Run; the
//     sender owns the inbox and closes it to shut the shard down;
//   - reads and admin operations: View, Delete, Maintain, CleanTombstones
//     and Snapshot send a request that Run serves between two messages;
//   - WaitDurable, which waits on the WAL writer (safe for concurrent use).
//
// The worker goroutine gets jobs built from immutable snapshots (label sets,
// chunk references into files it holds references on, copies of open
// chunks) and returns functions that Run applies; it never touches head
// state. Shutdown order: inbox closed → the running job lands → worker
// stops → WAL closed (flushed and fsynced) → head chunk files and blocks
// released.
//
// # Lifetime of returned bytes
//
// Chunks handed to readers alias mapped head chunk files or blocks and stay
// valid while the reader holds the FileRefs or block references it was
// given (View.AcquireFiles, View.Blocks); open chunks are copied onto the
// reader's arena.
//
// The design, with the head-cut protocol and its invariants, is in
// docs/DESIGN.md and in the design block of shard_blocks.go.
package shard
