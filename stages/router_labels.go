package stages

import "github.com/prometheus/prometheus/model/labels"

// CachedLabels returns the canonical labels the route cache holds for the
// raw key, and whether it holds the key. A parser that gets true fills
// Series.Labels with the result instead of building the label set itself:
// the series then routes correctly even if its entry is evicted before
// Split (Split canonicalises the labels again on that miss), which leaving
// Labels empty after Cached cannot promise. The returned labels are
// immutable and safe to keep. Allocation-free.
func (r *Router) CachedLabels(key []byte) (labels.Labels, bool) {
	e, ok := r.lookup(key)
	return e.labels, ok
}
