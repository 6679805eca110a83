package shard

import (
	"math"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/postings"
	"github.com/silverback-tsdb/tsdb/stages"
)

// memSeries is one series of the head. Owned by the shard goroutine.
//
// Layout is chosen for RAM per active series (88 bytes, the 96-byte size
// class): the labels (one string header; the bytes are shared with the
// route cache), the open chunk's appender, whose state also gives the last
// timestamp and value for the series rules, and the reference of the newest
// closed chunk; older closed chunks are reached through the links in the
// mapped head chunk files. The series' hash is recomputed on the rare paths
// that need it (removal).
type memSeries struct {
	lset labels.Labels
	app  chunkstore.Appender // the open chunk; NumSamples() == 0 only before the first sample
	// lastClosed is the newest closed chunk, 0 if none.
	lastClosed chunkRef
}

// hasSamples reports whether the series has stored a sample.
func (ms *memSeries) hasSamples() bool { return ms.app.NumSamples() > 0 }

// head is the shard's series registry: hash → ref with collision handling,
// ref → series, and the postings over refs. Owned by the shard goroutine.
//
// Refs are uint32 and recycled: a freed ref goes to a free list and is given
// to a later series, so live refs stay below the active-series limit and the
// roaring postings stay dense. Recycling bumps epoch, which invalidates the
// route cache's ref hints (see package stages).
type head struct {
	byHash  map[uint64]uint32   // hash → ref of the first series with that hash
	coll    map[uint64][]uint32 // hash → refs of further series with that hash (xxhash64 collisions; practically empty)
	series  []*memSeries        // index: ref; series[0] is unused so ref 0 means "none"
	free    []uint32            // refs of collected series, reusable
	index   *postings.Index
	epoch   uint32
	active  int
	mint    int64 // smallest timestamp in the head, math.MaxInt64 when empty
	maxt    int64 // largest timestamp in the head, math.MinInt64 when empty
	hashBuf []byte
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
	s := &memSeries{lset: lset}
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
	if s := h.series[ref]; s != nil {
		var hash uint64
		hash, h.hashBuf = stages.HashLabels(h.hashBuf, s.lset)
		h.removeHashed(ref, hash)
	}
}

// removeHashed is remove for a series whose hash the caller knows.
func (h *head) removeHashed(ref uint32, hash uint64) {
	s := h.series[ref]
	if s == nil {
		return
	}
	h.index.Delete(ref, s.lset)
	if first := h.byHash[hash]; first == ref {
		if rest := h.coll[hash]; len(rest) > 0 {
			h.byHash[hash] = rest[0]
			if len(rest) == 1 {
				delete(h.coll, hash)
			} else {
				h.coll[hash] = rest[1:]
			}
		} else {
			delete(h.byHash, hash)
		}
	} else {
		rest := h.coll[hash]
		for i, r := range rest {
			if r == ref {
				rest = append(rest[:i], rest[i+1:]...)
				break
			}
		}
		if len(rest) == 0 {
			delete(h.coll, hash)
		} else {
			h.coll[hash] = rest
		}
	}
	h.series[ref] = nil
	h.free = append(h.free, ref)
	h.active--
}
