package shard

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/stages"
)

// Route-cache hints.
//
// A hint (stages.ShardSeries Ref, Epoch) says: at ref epoch Epoch, Ref was
// this series. Refs are recycled, and a recycled ref goes to a series
// created later, at a later epoch: a ref is freed only by head garbage
// collection, which bumps the epoch once it freed any (gcBefore), and a
// series records the epoch it was created in (memSeries.born). So the
// series at Ref is the hinted one exactly when it exists and was born at
// or before the hint's epoch; no labels need to be compared, which is what
// lets the router's cache keep none (stages routeCache). A hint that fails
// is resolved by the message's labels if it carries them; a message whose
// series came with a hint alone fails with stages.ErrStaleRoute (nothing
// stored), and the router drops those routes.
//
// Options.RefsFreed tells the router which refs a collection freed, as it
// frees them, so its cache stops handing out routes to them.

// hinted returns the series a hint names, or nil when the ref has been
// freed or recycled since the hint's epoch.
func (h *head) hinted(ref, epoch uint32) *memSeries {
	ms := h.get(ref)
	if ms == nil {
		return nil
	}
	if int32(stages.HintEpoch(h.epoch, epoch)-ms.born) < 0 {
		return nil // recycled: a later series
	}
	return ms
}

// seriesName is a series' labels for a reject's text, decoded only when
// the text is formatted: a routed series comes without its labels.
type seriesName struct {
	h    *head
	ms   *memSeries
	lset labels.Labels
}

func (n seriesName) String() string {
	if !n.lset.IsEmpty() || n.ms == nil {
		return n.lset.String()
	}
	return n.h.labels(n.ms).String()
}

// nameOf is the name of message series i resolved to ms (nil: none).
func (h *head) nameOf(ss *stages.ShardSeries, ms *memSeries) fmt.Stringer {
	return seriesName{h: h, ms: ms, lset: ss.Labels}
}

// notifyFreed passes the refs a collection freed to Options.RefsFreed.
func (s *Shard) notifyFreed(freed []uint32) {
	if s.opts.RefsFreed != nil && len(freed) > 0 {
		s.opts.RefsFreed(s.head.epoch, freed)
	}
}
