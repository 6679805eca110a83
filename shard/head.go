package shard

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/postings"
	"github.com/silverback-tsdb/tsdb/stages"
)

// memSeries is one series of the head. Owned by the shard goroutine.
//
// Layout is chosen for RAM per active series (88 bytes, stored by value in
// slabs of mapped memory outside the Go heap, offheap.go; the appender's
// buffer is a block of the head's mapped chunk arena, never a Go heap
// slice): the open chunk's appender, whose state also gives the last
// timestamp and value for the series rules, the reference and maximum
// time of the newest closed chunk (older closed chunks are reached through
// the links in the mapped head chunk files), and the position of the
// series' label set in the head's label arena (head_labels.go: symbol ids,
// not strings). The series' hash is recomputed on the rare paths that need
// it (removal).
type memSeries struct {
	app chunkstore.Appender // the open chunk; NumSamples() == 0 only before the first sample
	// lastClosed is the newest closed chunk, 0 if none. lastClosedMaxT is
	// its maxT, which the next cut writes into its link, or unknownMaxT
	// (after a head snapshot restore: cutChunk reads it from the file).
	lastClosed     chunkRef
	lastClosedMaxT int64
	lbl            labelsRef // the labels (head.labels); 0: a free slot
	// born is the ref epoch the series was created in (in what would be
	// padding): the check of a route-cache hint (hinted, route_hints.go).
	born uint32
}

// unknownMaxT marks memSeries.lastClosedMaxT as not known.
const unknownMaxT = math.MinInt64

// hasSamples reports whether the series has stored a sample.
func (ms *memSeries) hasSamples() bool { return ms.app.NumSamples() > 0 }

// head is the shard's series registry: hash → ref (a refTable; any number of
// series may share a hash), ref → series, and the postings over refs. Owned
// by the shard goroutine.
//
// Refs are uint32 and recycled: a freed ref goes to a free list and is given
// to a later series, so live refs stay below the active-series limit and the
// roaring postings stay dense. Recycling bumps epoch, which invalidates the
// route cache's ref hints (see package stages).
type head struct {
	byHash refTable // hash tag → refs (mapped memory, offheap.go)
	// slabs: ref r lives at slabs[r/slabSize][r%slabSize]; ref 0 is never
	// used. Each slab is a mapping of its own (offheap.go), nil until a
	// ref in it is used.
	slabs  [][]memSeries
	chunks chunkArena // the open chunks' buffers (head_openchunks.go)
	nslabs int        // slabs mapped
	nrefs  uint32     // refs handed out so far, including the unused 0
	free   []uint32   // refs of collected series, reusable
	// scan, when > 0: refs in [scan, nrefs) may be free without being on
	// the free list (the holes a replay leaves); freeRef takes them in
	// order. A replay sets it instead of listing every hole, so a high ref
	// read from disk costs no list of the refs below it.
	scan    uint32
	index   *postings.Index
	epoch   uint32
	active  int
	mint    int64 // smallest timestamp in the head, math.MaxInt64 when empty
	maxt    int64 // largest timestamp in the head, math.MinInt64 when empty
	hashBuf []byte
	// lbls holds the series' label sets as symbol ids of index
	// (head_labels.go); idBuf, encBuf and lb are its scratch.
	lbls   labelArena
	idBuf  []uint32
	encBuf []byte
	lb     labels.ScratchBuilder
	// ranges are the block ranges holding samples not yet persisted,
	// sorted (noteRange, dropRanges in shard_bounds.go); [rangeLo,
	// rangeHi) is the part of the range last noted at or above its
	// smallest sample (empty: 1, 0).
	ranges           []headRange
	rangeLo, rangeHi int64
	// openBytes is the sum of the open chunks' buffer capacities: the part
	// of head memory that grows with samples (HeadMaxBytes). Kept by
	// appendSample and removeHashed; recountOpenBytes after restores that
	// fill appenders directly.
	openBytes int64
}

// recountOpenBytes sets openBytes from every series (O(series)).
func (h *head) recountOpenBytes() {
	h.openBytes = 0
	for ref := uint32(1); ref < h.nrefs; ref++ {
		if ms := h.get(ref); ms != nil {
			h.openBytes += int64(cap(ms.app.Bytes()))
		}
	}
}

// slabSize series per slab: series are stored by value in fixed slabs rather
// than allocated one by one, which saves the pointer and the allocator's
// size-class rounding (88 → 96 bytes) per series; slabs never move, so
// pointers to series stay valid (until head.release).
const slabSize = 1024

// slabMapBytes is the mapping of one slab: 1,024 88-byte series are 22
// pages exactly.
var slabMapBytes = mapBytes(slabSize * int(unsafe.Sizeof(memSeries{})))

// maxSeriesRef bounds the refs the head accepts from disk (WAL series
// records, head snapshots). Live refs stay below the largest number of
// series active at once (refs are recycled), so 2^24 (16.7M series in one
// shard, ~1.5 GB of series; more shards hold more) is above any head this
// design serves, while a damaged ref can make the slab table grow by at most
// 2^24/1024 headers (400 KB) instead of the 100 MB a ref near 2^32 cost.
const maxSeriesRef = 1 << 24

func newHead() *head {
	return &head{
		nrefs: 1,
		index: postings.NewIndex(),
		mint:  math.MaxInt64,
		maxt:  math.MinInt64,
		// An empty cache: the first sample takes the slow path.
		rangeLo: 1,
		rangeHi: 0,
	}
}

// get returns the series at ref, or nil. A slot is free when it has no
// labels position.
func (h *head) get(ref uint32) *memSeries {
	if ref == 0 || ref >= h.nrefs {
		return nil
	}
	sl := h.slabs[ref/slabSize]
	if sl == nil {
		return nil
	}
	s := &sl[ref%slabSize]
	if s.lbl == 0 {
		return nil
	}
	return s
}

// slot returns the storage of ref, growing the slabs and nrefs to hold it.
// Only the slab that holds ref is allocated: a sparse high ref (from a WAL
// record or a snapshot) costs a slab header per 1,024 refs skipped, not a
// slab.
func (h *head) slot(ref uint32) *memSeries {
	if ref > maxSeriesRef {
		panic(fmt.Sprintf("BUG: shard: head ref %d above the limit %d (callers check refs read from disk)", ref, maxSeriesRef))
	}
	i := int(ref / slabSize)
	if i >= len(h.slabs) {
		h.slabs = append(h.slabs, make([][]memSeries, i+1-len(h.slabs))...)
	}
	if h.slabs[i] == nil {
		h.slabs[i] = mappedAs[memSeries](mapAnon(slabMapBytes), slabSize) // zeroed: free slots
		h.nslabs++
	}
	if ref >= h.nrefs {
		h.nrefs = ref + 1
	}
	return &h.slabs[i][ref%slabSize]
}

// lookup finds the series with labels lset (hash is its HashLabels).
func (h *head) lookup(hash uint64, lset labels.Labels) (uint32, *memSeries) {
	t := &h.byHash
	if t.n == 0 {
		return 0, nil
	}
	tag, m := hashTag(hash), t.mask()
	for i := t.home(tag); ; i = (i + 1) & m {
		sl := t.slots[i]
		if sl == 0 {
			return 0, nil
		}
		if uint32(sl>>32) == tag {
			if s := h.get(uint32(sl)); s != nil && h.equalLabels(s, lset) {
				return uint32(sl), s
			}
		}
	}
}

// create adds a series that lookup did not find, at ref if ref != 0 (WAL
// replay, which must reproduce refs) or at a fresh ref otherwise.
func (h *head) create(ref uint32, hash uint64, lset labels.Labels) (uint32, *memSeries) {
	if ref == 0 {
		ref = h.freeRef()
	} else {
		if old := h.get(ref); old != nil {
			// Replay: a later series record for a recycled ref supersedes
			// the earlier series (docs/format/wal.md).
			h.remove(ref)
		}
		h.takeFromFree(ref)
	}
	s := h.slot(ref)
	*s = memSeries{lbl: h.putLabels(ref, lset), born: h.epoch, lastClosedMaxT: unknownMaxT}
	h.byHash.insert(hashTag(hash), ref)
	h.active++
	return ref, s
}

// freeRef returns the ref for a new series: a collected one from the free
// list, else a hole below nrefs left by replay (from scan up), else a fresh
// one. A ref on the free list may have been taken through the scan
// meanwhile; it is skipped then.
func (h *head) freeRef() uint32 {
	for {
		if n := len(h.free); n > 0 {
			r := h.free[n-1]
			h.free = h.free[:n-1]
			if h.get(r) == nil {
				return r
			}
			continue
		}
		if h.scan > 0 && h.scan < h.nrefs {
			r := h.scan
			h.scan++
			if h.get(r) == nil {
				return r
			}
			continue
		}
		return h.nrefs
	}
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
	if s := h.get(ref); s != nil {
		var hash uint64
		hash, h.hashBuf = stages.HashLabels(h.hashBuf, h.labels(s))
		h.removeHashed(ref, hash)
	}
}

// removeHashed is remove for a series whose hash the caller knows.
func (h *head) removeHashed(ref uint32, hash uint64) {
	s := h.get(ref)
	if s == nil {
		return
	}
	h.dropLabels(ref, s)
	h.byHash.remove(hashTag(hash), ref)
	h.openBytes -= int64(cap(s.app.Bytes()))
	h.chunks.free(s.app.Bytes())
	*s = memSeries{} // marks the slot free
	h.free = append(h.free, ref)
	h.active--
}

// release unmaps the head's mapped memory (offheap.go): the slabs, the open
// chunks' buffers and the hash table. The head is empty afterwards and no
// series pointer or open chunk's bytes taken from it may be used. The
// shard calls it when it shuts down or replaces its head.
func (h *head) release() {
	for i, sl := range h.slabs {
		if sl != nil {
			unmapAnon(bytesOf(sl, slabMapBytes))
			h.slabs[i] = nil
		}
	}
	h.chunks.release()
	h.byHash.release()
	*h = *newHead()
}

// mappedBytes returns the bytes of the head's anonymous mappings (O(1)).
func (h *head) mappedBytes() int64 {
	return int64(h.nslabs)*int64(slabMapBytes) + h.chunks.mapped + int64(len(h.byHash.slots))*8
}
