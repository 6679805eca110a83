package shard

import (
	"math"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/postings"
)

// memSeries is one series of the head. Owned by the shard goroutine.
//
// Layout is chosen for RAM per active series: the labels (one string), the
// open chunk's appender state and bytes, and 8 bytes per closed chunk, whose
// bytes live in the mapped head chunk files.
type memSeries struct {
	lset  labels.Labels
	hash  uint64
	app   chunkstore.Appender // the open chunk; empty when NumSamples() == 0
	lastV uint64              // float64 bits of the last sample, for duplicate checks
	// closed holds the closed chunks, oldest first. Their time ranges are
	// read from the mapped records when a query needs them, which keeps a
	// closed chunk at 8 bytes of RAM.
	closed []chunkRef
	// maxT is the timestamp of the last sample, math.MinInt64 before any.
	maxT int64
}

// head is the shard's series registry: hash → ref with collision handling,
// ref → series, and the postings over refs. Owned by the shard goroutine.
//
// Refs are uint32 and recycled: a freed ref goes to a free list and is given
// to a later series, so live refs stay below the active-series limit and the
// roaring postings stay dense. Recycling bumps epoch, which invalidates the
// route cache's ref hints (see package stages).
type head struct {
	byHash map[uint64]uint32   // hash → ref of the first series with that hash
	coll   map[uint64][]uint32 // hash → refs of further series with that hash (xxhash64 collisions; practically empty)
	series []*memSeries        // index: ref; series[0] is unused so ref 0 means "none"
	free   []uint32            // refs of collected series, reusable
	index  *postings.Index
	epoch  uint32
	active int
	mint   int64 // smallest timestamp in the head, math.MaxInt64 when empty
	maxt   int64 // largest timestamp in the head, math.MinInt64 when empty
}

func newHead() *head {
	return &head{
		byHash: map[uint64]uint32{},
		coll:   map[uint64][]uint32{},
		series: []*memSeries{nil},
		index:  postings.NewIndex(),
		mint:   math.MaxInt64,
		maxt:   math.MinInt64,
	}
}

// get returns the series at ref, or nil.
func (h *head) get(ref uint32) *memSeries {
	if int(ref) >= len(h.series) {
		return nil
	}
	return h.series[ref]
}

// lookup finds the series with labels lset (hash is its HashLabels).
func (h *head) lookup(hash uint64, lset labels.Labels) (uint32, *memSeries) {
	ref, ok := h.byHash[hash]
	if !ok {
		return 0, nil
	}
	if s := h.series[ref]; labels.Equal(s.lset, lset) {
		return ref, s
	}
	for _, r := range h.coll[hash] {
		if s := h.series[r]; labels.Equal(s.lset, lset) {
			return r, s
		}
	}
	return 0, nil
}

// create adds a series that lookup did not find, at ref if ref != 0 (WAL
// replay, which must reproduce refs) or at a fresh ref otherwise.
func (h *head) create(ref uint32, hash uint64, lset labels.Labels) (uint32, *memSeries) {
	if ref == 0 {
		if n := len(h.free); n > 0 {
			ref = h.free[n-1]
			h.free = h.free[:n-1]
		} else {
			ref = uint32(len(h.series))
			h.series = append(h.series, nil)
		}
	} else {
		for int(ref) >= len(h.series) {
			h.series = append(h.series, nil)
		}
		if old := h.series[ref]; old != nil {
			// Replay: a later series record for a recycled ref supersedes
			// the earlier series (docs/format/wal.md).
			h.remove(ref)
		}
		h.takeFromFree(ref)
	}
	s := &memSeries{lset: lset, hash: hash, maxT: math.MinInt64}
	h.series[ref] = s
	if _, ok := h.byHash[hash]; ok {
		h.coll[hash] = append(h.coll[hash], ref)
	} else {
		h.byHash[hash] = ref
	}
	h.index.Add(ref, lset)
	h.active++
	return ref, s
}

func (h *head) takeFromFree(ref uint32) {
	for i, r := range h.free {
		if r == ref {
			h.free[i] = h.free[len(h.free)-1]
			h.free = h.free[:len(h.free)-1]
			return
		}
	}
}

// remove drops the series at ref from the registry and the postings and
// frees its ref. The caller bumps the epoch once per collection.
func (h *head) remove(ref uint32) {
	s := h.series[ref]
	if s == nil {
		return
	}
	h.index.Delete(ref, s.lset)
	if first := h.byHash[s.hash]; first == ref {
		if rest := h.coll[s.hash]; len(rest) > 0 {
			h.byHash[s.hash] = rest[0]
			if len(rest) == 1 {
				delete(h.coll, s.hash)
			} else {
				h.coll[s.hash] = rest[1:]
			}
		} else {
			delete(h.byHash, s.hash)
		}
	} else {
		rest := h.coll[s.hash]
		for i, r := range rest {
			if r == ref {
				rest = append(rest[:i], rest[i+1:]...)
				break
			}
		}
		if len(rest) == 0 {
			delete(h.coll, s.hash)
		} else {
			h.coll[s.hash] = rest
		}
	}
	h.series[ref] = nil
	h.free = append(h.free, ref)
	h.active--
}
