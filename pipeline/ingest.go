package pipeline

import "github.com/silverback-tsdb/tsdb/stages"

// Lookup returns the route-cache entry of a raw client series key
// (stages.Router.Lookup). Protocol parsers use it to skip building label
// sets for known series and hand it to stages.Batch.AddRouted, so Append
// routes the series without looking it up again. Safe for concurrent use;
// allocation-free.
func (db *DB) Lookup(key []byte) (stages.Route, bool) {
	return db.router.Lookup(key)
}

// LookupHinted is Lookup with a per-request hint of where the request's
// previous series were found (stages.Router.LookupHinted: cheaper when
// clients repeat their series in the same order).
func (db *DB) LookupHinted(key []byte, hint *stages.RouteHint) (stages.Route, bool) {
	return db.router.LookupHinted(key, hint)
}

// InboxDepths appends to dst the number of messages waiting in each
// shard's inbox (index = shard), for the server's self-metrics. A racy
// snapshot; safe for concurrent use.
func (db *DB) InboxDepths(dst []int) []int {
	for _, in := range db.inboxes {
		dst = append(dst, len(in))
	}
	return dst
}
