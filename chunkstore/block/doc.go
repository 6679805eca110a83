// Package block owns the immutable on-disk blocks of Silverback: their
// format (meta.json, index, chunk segments, tombstones), the Writer that
// builds one, the mmap'd Block reader, and Compact, the merge of several
// blocks into one.
//
// # Layout
//
//	<parent>/<ULID>/meta.json        ULID, half-open time range [minTime, maxTime) in ms, stats, lineage, checksum
//	<parent>/<ULID>/index            series table, symbols, postings (package postings' serialized form), TOC
//	<parent>/<ULID>/chunks/000001…   chunk records (docs/format/chunks.md) after an 8-byte header
//	<parent>/<ULID>/tombstones       series ref → deleted closed intervals
//
// The bytes are specified in docs/format/block.md and, for the index, in
// docs/format/index.md §Block index. Series refs in a block are dense
// uint32 from 0 in label order; a chunk ref is segment<<32 | offset, with
// segment the number of the chunks/ file (from 1).
//
// # What it owns and what it does not
//
// It owns the bytes of a block and their durability: a Writer writes into
// <ULID>.tmp, fsyncs every file and directory, renames to <ULID> and fsyncs
// the parent; Delete renames a block to a temporary before removing it;
// OpenAll and RemoveTmp remove leftover temporaries, which are never data.
// It does not decide when to cut the head, what to compact, retention,
// quarantine or querying across blocks (package shard does), nor chunk
// encodings (package chunkstore) or postings (package postings).
//
// # Concurrency
//
// A Writer is owned by one goroutine. A Block is immutable after Open
// except for its reference count and tombstones, and its read methods are
// safe for concurrent use by readers holding a reference (Acquire /
// Release). Close stops new references; the last Release unmaps the files
// and, after MarkForDeletion, removes the directory, so retention and
// compaction never pull bytes from under a running query. SetTombstones
// replaces the tombstones atomically; calls to it must be serialised by the
// caller. Compact reads its inputs under references and writes one new
// block; it runs in the caller's goroutine.
//
// # Lifetime of bytes
//
// Chunk.Data returned by Block.Chunk aliases the read-only mapping: valid
// while the caller holds a reference, never to be written; copy to keep.
// Chunk.Timestamps of a shared-timestamp chunk (index version 2,
// docs/format/block.md §Timestamps section) is a decoded column shared by
// the block's cache and every chunk of the group: read-only, and valid as
// long as the caller keeps it.
// Labels, label names and values, bitmaps and chunk metas returned by a
// Block never alias the mapping.
//
// # Errors
//
// Every problem with bytes on disk is a *CorruptionError naming the block,
// the file and the offset (errors.Is(err, ErrCorrupt)). Open checks
// meta.json, every index checksum and the segment headers; each chunk
// record's CRC is checked when it is read, so a damaged chunk fails only
// the series that needs it; Verify checks everything. A file of an
// unknown version yields ErrUnsupportedVersion. Decoding never panics on
// any input.
//
// The package starts no goroutines. It logs through the zap.Logger in its
// options (default zap.NewNop()).
package block
