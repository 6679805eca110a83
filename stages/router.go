package stages

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
)

// RouterOptions configures NewRouter.
type RouterOptions struct {
	Shards int    // number of shards, > 0
	Limits Limits // series shape limits, checked on cache misses
	// CacheSize bounds the route cache in entries (16 bytes each plus 8
	// of slots, see routeCache), at most 1<<24.
	// Default 1<<20; negative disables the cache.
	CacheSize int
}

// DefaultRouteCacheSize is enough for a million active series; a larger
// working set still routes correctly, with more canonicalisation.
const DefaultRouteCacheSize = 1 << 20

// Router splits batches into per-shard messages. Safe for concurrent use.
type Router struct {
	shards int
	limits Limits
	cache  *routeCache // nil: disabled
}

// cacheEntry is what the route cache keeps per raw key, unpacked
// (packRoute), and what a Route carries: no labels, and the shard instead
// of the series hash (a shard needs the hash only when the ref hint is
// stale, and then recomputes it from the labels, when it has them).
type cacheEntry struct {
	ref   uint32
	epoch uint32 // low 24 bits of the shard's ref epoch at Learn
	shard uint16
	check uint8 // keyCheck of the raw key
	canon bool  // the key is the bytes of canonical labels (Series.Key nil)
}

// NewRouter returns a router for o.Shards shards.
func NewRouter(o RouterOptions) *Router {
	if o.Shards <= 0 {
		panic(fmt.Sprintf("BUG: stages.NewRouter with %d shards", o.Shards))
	}
	r := &Router{shards: o.Shards, limits: o.Limits.WithDefaults()}
	switch {
	case o.CacheSize == 0:
		r.cache = newRouteCache(DefaultRouteCacheSize, o.Shards)
	case o.CacheSize > 0:
		r.cache = newRouteCache(o.CacheSize, o.Shards)
	}
	return r
}

// Shards returns the number of shards the router routes to.
func (r *Router) Shards() int { return r.shards }

func (r *Router) lookup(key []byte, hint *RouteHint) (cacheEntry, bool) {
	if r.cache == nil {
		return cacheEntry{}, false
	}
	return r.cache.lookup(key, hint)
}

// Cached reports whether key is in the route cache, so a parser may leave
// Series.Labels empty for it.
func (r *Router) Cached(key []byte) bool {
	_, ok := r.lookup(key, nil)
	return ok
}

// Split routes b into msgs, one per shard (len(msgs) == Shards; each is
// Reset first). Series are validated and canonicalised unless the route
// cache knows them; a series that breaks the rules is not routed, and its
// samples are counted and described in scratch.Stats (RejectInvalidSeries,
// with the rule), so the valid rest of a batch can be stored. A series
// without samples is not routed at all (it would create a series nothing
// can see). The cache is asked about a series that carries labels only
// when its key is those labels' bytes (Key nil; see routeOf), so a key
// reused for another label set cannot write into the first one. The error is for a malformed batch (a
// *BatchError: nil, or a sample naming a series the batch does not have);
// then nothing is routed. Split allocates nothing per sample; it allocates
// per series only on cache misses, and per invalid series.
func (r *Router) Split(b *Batch, msgs []*ShardBatch, scratch *SplitScratch) error {
	if len(msgs) != r.shards {
		panic(fmt.Sprintf("BUG: stages.Router.Split with %d messages for %d shards", len(msgs), r.shards))
	}
	for _, m := range msgs {
		m.Reset()
	}
	if b == nil {
		scratch.reset(0)
		return &BatchError{Sample: -1}
	}
	scratch.reset(len(b.Series))
	defer scratch.hint.Reset() // a pooled scratch pins no table
	// First pass: check every sample's series index before anything is
	// routed, and mark the series that have samples.
	for j := range b.Samples {
		si := b.Samples[j].Series
		if int(si) >= len(b.Series) {
			return &BatchError{Sample: j, Series: si, NumSeries: len(b.Series)}
		}
		scratch.local[si].idx = 1
	}
	for i := range b.Series {
		b.Series[i].refused = false // Series.Refused is of this Append
		if scratch.local[i].idx == 0 {
			scratch.local[i] = localRef{shard: -1}
			continue // no samples: nothing to route
		}
		s := &b.Series[i]
		key := s.Key
		if key == nil {
			key = labelsKey(s.Labels)
		}
		var ss ShardSeries
		shard := 0
		if e, ok := r.routeOf(s, key, &scratch.hint); ok {
			// Labels travel when the batch has them (canonical: routeOf),
			// so the shard can resolve a stale hint by them.
			ss = ShardSeries{Labels: s.Labels, Ref: e.ref, Epoch: e.epoch}
			shard = int(e.shard)
		} else {
			if s.Labels.IsEmpty() {
				scratch.invalid(i, &SeriesError{Rule: RuleNoLabels,
					msg: fmt.Sprintf("%s: series %d has no labels and its key is not cached", ErrInvalidSeries, i)})
				continue
			}
			lset, err := Canonicalize(s.Labels, r.limits)
			if err != nil {
				scratch.invalid(i, err.(*SeriesError))
				continue
			}
			var h uint64
			h, scratch.hashBuf = HashLabels(scratch.hashBuf, lset)
			ss = ShardSeries{Labels: lset, Hash: h}
			shard = ShardOf(h, r.shards)
		}
		ss.Src = uint32(i)
		m := msgs[shard]
		scratch.local[i] = localRef{shard: int32(shard), idx: uint32(len(m.Series))}
		m.Series = append(m.Series, ss)
	}
	for j, smp := range b.Samples {
		lr := scratch.local[smp.Series]
		if lr.shard < 0 {
			inv := scratch.invalids[lr.idx]
			rj := Reject{Series: smp.Series, Sample: uint32(j), T: smp.T, Reason: RejectInvalidSeries, Rule: inv.rule}
			if scratch.Stats.KeepsDetail() {
				rj.Detail = inv.text
			}
			scratch.Stats.AddReject(rj)
			continue
		}
		m := msgs[lr.shard]
		m.Samples = append(m.Samples, Sample{Series: lr.idx, Src: uint32(j), T: smp.T, V: smp.V})
	}
	return nil
}

// Learn records in the route cache the refs a shard assigned to the series
// of msg (after the shard replied), so later batches skip canonicalisation
// and the shard's lookup. b is the batch msg was split from.
func (r *Router) Learn(b *Batch, shard int, msg *ShardBatch, reply *ShardReply, scratch *SplitScratch) {
	if r.cache == nil || shard >= maxRouteShards {
		return
	}
	l := learner{c: r.cache}
	defer l.done()
	for i := range msg.Series {
		ss := &msg.Series[i]
		if i >= len(reply.Refs) || reply.Refs[i] == 0 || reply.Refs[i] > maxRouteRef {
			continue // rejected, stale (RefStale) or too large to cache
		}
		ref := reply.Refs[i]
		if ss.Ref == ref && (reply.Epoch-HintEpoch(reply.Epoch, ss.Epoch)) < 1<<20 {
			// The hint was right, and is young enough to stay so
			// (HintEpoch): nothing new.
			continue
		}
		src := &b.Series[ss.Src]
		key := src.Key
		canon := false
		if key == nil {
			key = labelsKey(src.Labels)
			canon = labels.Equal(src.Labels, ss.Labels)
		}
		l.put(key, cacheEntry{ref: ref, epoch: reply.Epoch, shard: uint16(shard), canon: canon})
	}
}

// Unlearn drops from the route cache the keys of the series of msg that
// its shard could not resolve (reply.Refs[i] == RefStale: a reply with
// ErrStaleRoute), so that a retry of them is a miss and carries labels,
// and marks every series of msg in b as refused (Series.Refused: the
// shard stored none of them). It writes only those marks into b, on the
// caller's goroutine, during Append.
func (r *Router) Unlearn(b *Batch, msg *ShardBatch, reply *ShardReply, scratch *SplitScratch) {
	for i := range msg.Series {
		b.Series[msg.Series[i].Src].refused = true
	}
	if r.cache == nil {
		return
	}
	l := learner{c: r.cache}
	defer l.done()
	for i := range msg.Series {
		if i >= len(reply.Refs) || reply.Refs[i] != RefStale {
			continue
		}
		src := &b.Series[msg.Series[i].Src]
		key := src.Key
		if key == nil {
			key = labelsKey(src.Labels)
		}
		l.drop(key)
	}
}

// Forget removes from the route cache the routes to the refs a shard freed
// (head garbage collection), which moved its ref epoch to epoch, so their
// keys miss and come back with labels instead of failing the shard's
// resolution (ErrStaleRoute). It also drops the shard's routes from 2^22
// or more epochs before, which HintEpoch could not widen. The shard calls
// it as it frees the refs, before it gives any of them to a new series;
// refs need not be sorted. Safe for concurrent use; O(cache entries).
func (r *Router) Forget(shard int, epoch uint32, freed []uint32) {
	if r.cache == nil || shard >= maxRouteShards {
		return
	}
	var top uint32
	for _, ref := range freed {
		top = max(top, ref)
	}
	bm := make([]uint64, top/64+1)
	for _, ref := range freed {
		bm[ref/64] |= 1 << (ref % 64)
	}
	r.cache.forget(shard, epoch, bm)
}

// SplitScratch is per-caller scratch space for Split and Learn; reuse one per
// goroutine to keep routing allocation-free. Not safe for concurrent use.
type SplitScratch struct {
	// Stats counts the samples Split rejected itself (series with invalid
	// labels, RejectInvalidSeries), with their Rejects. Reset by Split.
	Stats AppendStats

	local []localRef
	// hashBuf is HashLabels' scratch. NB: not a sync.Pool: under the race
	// detector a Pool drops a quarter of what is Put (sync/pool.go), so
	// Split allocated one buffer in some runs there
	// (TestRouter_SplitCachedAllocsZero -race: 6 of 300).
	hashBuf []byte
	// hint guides Split's own cache lookups (series without a route):
	// a caller repeats its series in the order they were learnt, so the
	// next one's entry is usually the one after the previous one's
	// (RouteHint). Without it, the random slot probe's cache misses were
	// most of Split's CPU in BenchmarkAppend. Reset at the end of Split.
	hint     RouteHint
	invalids []invalidSeries // per invalid series (localRef.idx)
}

// invalidSeries is why one batch series was not routed.
type invalidSeries struct {
	text string
	rule SeriesRule
}

// localRef locates a batch series in its shard message; shard -1 marks an
// invalid series, whose idx indexes SplitScratch.invalids (or a series
// without samples). Before routing, idx 1 marks a series with samples.
type localRef struct {
	shard int32
	idx   uint32
}

func (s *SplitScratch) reset(n int) {
	if cap(s.local) < n {
		s.local = make([]localRef, n)
	}
	s.local = s.local[:n]
	clear(s.local)
	clear(s.Stats.Rejects)
	s.Stats = AppendStats{Rejects: s.Stats.Rejects[:0]}
	clear(s.invalids)
	s.invalids = s.invalids[:0]
}

// invalid marks batch series i as rejected by err (its samples are counted
// as RejectInvalidSeries, nothing of it is routed).
func (s *SplitScratch) invalid(i int, err *SeriesError) {
	s.local[i] = localRef{shard: -1, idx: uint32(len(s.invalids))}
	s.invalids = append(s.invalids, invalidSeries{text: err.Error(), rule: err.Rule})
}
