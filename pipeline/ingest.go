package pipeline

import "github.com/prometheus/prometheus/model/labels"

// CachedLabels returns the canonical labels of a raw client series key if
// the route cache knows it (stages.Router.CachedLabels). Protocol parsers
// use it to skip building label sets for known series. Safe for concurrent
// use; allocation-free.
func (db *DB) CachedLabels(key []byte) (labels.Labels, bool) {
	return db.router.CachedLabels(key)
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
