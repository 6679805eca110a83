package stages

import "github.com/prometheus/prometheus/model/labels"

// Route is what the route cache knows about one raw series key: its
// shard and ref hint (no labels: the shard has them). A parser gets it
// from Router.Lookup and hands it to Batch.AddRouted, so Split routes the
// series without a second lookup, and without the race of leaving Labels
// empty after Cached (an entry evicted between the parser's check and
// Split would fail the series): the route travels with the series.
type Route struct {
	e      cacheEntry
	lset   labels.Labels // RouteOfLabels only
	routed bool          // from Router.Lookup; false: labels only (RouteOfLabels)
}

// RouteOfLabels is a Route carrying only labels, for Storage
// implementations without a router (tests); Split treats its series as
// an ordinary labelled one.
func RouteOfLabels(lset labels.Labels) Route { return Route{lset: lset} }

// Lookup returns the route-cache entry of a raw key. Allocation-free;
// safe for concurrent use.
func (r *Router) Lookup(key []byte) (Route, bool) {
	return r.LookupHinted(key, nil)
}

// LookupHinted is Lookup for a parser that looks up a request's series in
// the order the client sent them: hint (nil: none) remembers where the
// previous ones were found, and the entries that follow those are tried
// before the random probe. That is the right guess whenever the client
// repeats its series in the order they were first learnt (scrapes,
// remote-write queues). hint is the caller's, per request.
func (r *Router) LookupHinted(key []byte, hint *RouteHint) (Route, bool) {
	if r.cache == nil {
		return Route{}, false
	}
	e, ok := r.cache.lookup(key, hint)
	return Route{e: e, routed: ok}, ok
}

// AddRouted appends a series whose route a parser looked up and returns
// its index for AddSample. key is the raw key the route was looked up
// with (it aliases the caller's buffer, as in AddSeries).
func (b *Batch) AddRouted(rt Route, key []byte) uint32 {
	b.Series = append(b.Series, Series{Labels: rt.lset, Key: key, route: rt.e, routed: rt.routed})
	return uint32(len(b.Series) - 1)
}

// routeOf returns the route of batch series s: the one it carries, or the
// cache's. For a series that carries labels the cache is asked only when
// its key is their bytes (Key nil), and its entry used only when those
// labels were canonical when it was learnt (canon), so they can travel as
// the canonical labels: an explicit key with labels is a miss, since a
// key reused for another label set must not write into the first series
// (the entry keeps no labels to compare).
func (r *Router) routeOf(s *Series, key []byte, hint *RouteHint) (cacheEntry, bool) {
	if s.routed {
		return s.route, true
	}
	if !s.Labels.IsEmpty() && s.Key != nil {
		return cacheEntry{}, false
	}
	e, ok := r.lookup(key, hint)
	if ok && !s.Labels.IsEmpty() && !e.canon {
		return cacheEntry{}, false
	}
	return e, ok
}
