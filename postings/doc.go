// Package postings is the inverted index of Silverback: for every label pair
// name=value, a roaring bitmap of the series refs that carry it, plus the
// matcher planner that turns a PromQL selector into a bitmap of refs.
//
// # What it owns
//
//   - Index: the in-memory, mutable index of one shard's head (Add, Delete,
//     Select, LabelNames, LabelValues, Stats), with its label strings
//     interned in a refcounted symbol table whose dense ids the head uses
//     to store series labels (AddSymbols, Symbol, DeleteSymbols).
//   - The serialized index of immutable blocks (Index.AppendTo / WriteTo)
//     and Reader, which queries those bytes in place (they may be mmap'd).
//     The format is specified byte by byte in docs/format/index.md.
//   - Matcher semantics, identical to Prometheus: =, !=, =~, !~ with fully
//     anchored RE2 regexes (labels.Matcher); {a=""} matches series without
//     label a, {a!=""} requires it; a selector needs at least one matcher
//     that rejects the empty string (else ErrEmptyMatch).
//
// It does not own series labels or chunks (the shard keeps those: Delete
// takes the label set from the caller), nor ref allocation.
//
// # Why refs are uint32
//
// Refs are per shard and dense. The head recycles the refs of
// garbage-collected series, so live refs stay below the shard's
// active-series limit, far below 2^32; blocks renumber their series densely
// from 0 when written. Roaring bitmaps are 32-bit, and a dense 32-bit space
// is what makes their containers compact (a run of neighbouring refs shares
// one 64K container). A 64-bit ref would need roaring64 and cost more per
// entry for no reachable gain.
//
// # Concurrency
//
// Index is owned by one goroutine (the shard's) and is NOT safe for
// concurrent use, including concurrent reads: queries refresh lazily built
// sorted caches. Other goroutines query it by asking the owner.
//
// Reader is immutable after NewReader and safe for concurrent use. It
// references the bytes it was built on, which must stay valid and unmodified
// while it is used.
//
// # Lifetime of results
//
// Bitmaps returned by Select are owned by the caller (never shared with the
// index or aliasing a Reader's bytes). Strings returned by LabelNames,
// LabelValues and Stats are immutable and never alias a Reader's bytes.
//
// # Errors
//
// Sentinels are in errors.go. Every problem with serialized bytes is a
// *CorruptionError naming the section and offset; errors.Is(err,
// ErrCorrupt) holds for it. Decoding never panics on any input.
//
// The package does no logging and starts no goroutines.
package postings
