// Package stages holds what runs in front of the shards: the batch a parser
// fills, the router that splits a batch into per-shard messages, the route
// cache, and the message types a shard inbox carries.
//
// Stages never import package shard: the shard depends on the message types
// defined here, not the other way round.
//
// # Routing
//
// A series lives in exactly one shard: shard = HashLabels(labels) mod N. The
// hash is xxhash64 over a canonical encoding of the sorted label set that
// this package fixes (see HashLabels); it is part of the on-disk contract,
// because a data directory's series must land in the same shard after every
// restart. labels.Labels.Hash is deliberately not used: Prometheus documents
// it as unstable across versions.
//
// # Route cache
//
// Parsers see series as raw client keys (a line-protocol series key, a
// remote-write label list as sent). The Router keeps a bounded cache from
// raw key to the shard and the shard's series ref (16 bytes an entry, no
// labels and no key), so that a known series skips label building,
// canonicalisation, hashing and the shard's hash lookup. A cached ref is a
// hint with the ref epoch it was learnt in: refs are recycled only by head
// garbage collection, which bumps the shard's epoch, and each series
// records the epoch it was created in, so the shard takes the series at a
// hinted ref only when that series existed at the hint's epoch. A hint to
// a series the shard dropped cannot be resolved without labels: the shard
// refuses the message with ErrStaleRoute (nothing stored; retrying is
// safe) and the router drops those routes; Router.Forget removes the
// routes to the refs a collection frees as it frees them, so only a route
// looked up just before its series was dropped meets that. So a stale
// cache is never wrong: at worst a shard's part of a batch is refused
// once. Router.Unlearn marks the refused series (Series.Refused), so the
// caller can append exactly those again with labels instead of retrying
// the whole batch (httpfast does; a whole-batch retry would send the
// other shards' stored samples again, which --ingest.reject-late reports
// as out of order).
//
// # Concurrency
//
// Router is safe for concurrent use: a route-cache lookup takes no lock and
// writes nothing shared (an open-addressing table behind an atomic
// pointer; writers serialise on a mutex and publish entries atomically),
// and allocates nothing. Batch and RouteHint are owned by one goroutine. Message types document who owns what after a
// send.
package stages
