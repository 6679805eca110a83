package shard

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
)

// The out-of-order head.
//
// A late sample (older than its series' last sample, or older than the
// head's lower bound appendMinT, inside the time bounds) goes to the
// shard's out-of-order head instead of being rejected (unless
// Options.RejectLate). It holds, per series ref, the late samples sorted by
// timestamp, one per timestamp: an equal timestamp with the same value is a
// no-op, with another value a conflict, against the in-order head, the
// late samples (those a running cut took included) and, before queryMinT,
// the blocks (insertLate). Late samples are logged as RecordOOOSamples before they are
// applied, replayed into the out-of-order head, queried merged with the
// in-order head and blocks (View.Chunks returns them as extra chunks,
// sorted by MinT with the rest, so the querier's overlap merge applies),
// counted in the head memory bound, and persisted by the next head cut:
// the cut takes the whole out-of-order head (oooCut) and writes one block
// per block range it touches, which may overlap existing blocks (vertical
// compaction merges them). The checkpoint of that cut drops every
// RecordOOOSamples of the sealed segments: the cut snapshotted the
// out-of-order head at the seal, so it holds all of them. A crash between
// the block and the checkpoint replays them again, and the next cut writes
// them a second time; the merges de-duplicate equal timestamps.

// oooSample is one late sample.
type oooSample struct {
	t int64
	v float64
}

// oooHead holds late samples by series ref. Owned by the shard goroutine.
type oooHead struct {
	series     map[uint32][]oooSample // sorted by t, unique t
	n          int
	mint, maxt int64
	r          int64           // the block range (ms)
	perRange   map[int64]int32 // samples held per block range index (floor of t / r)
}

func newOOOHead(r int64) *oooHead {
	return &oooHead{series: map[uint32][]oooSample{}, mint: math.MaxInt64, maxt: math.MinInt64, r: r, perRange: map[int64]int32{}}
}

func cmpOOO(x oooSample, t int64) int { return cmp.Compare(x.t, t) }

// lookup classifies a late sample against the samples held: appended
// (new timestamp), duplicate or conflict.
func (o *oooHead) lookup(ref uint32, t int64, v float64) sampleResult {
	if o == nil {
		return sampleAppended
	}
	_, r := findOOO(o.series[ref], t, v)
	return r
}

// findOOO returns where t is or goes in ss, and whether a sample (t, v)
// would be appended there, be a duplicate or a conflict.
func findOOO(ss []oooSample, t int64, v float64) (int, sampleResult) {
	i, found := slices.BinarySearchFunc(ss, t, cmpOOO)
	switch {
	case !found:
		return i, sampleAppended
	case math.Float64bits(ss[i].v) == math.Float64bits(v):
		return i, sampleDuplicate
	default:
		return i, sampleConflict
	}
}

// insert adds a late sample unless its timestamp is held already
// (duplicate or conflict, returned without a change).
func (o *oooHead) insert(ref uint32, t int64, v float64) sampleResult {
	ss := o.series[ref]
	i, r := findOOO(ss, t, v)
	if r != sampleAppended {
		return r
	}
	o.series[ref] = slices.Insert(ss, i, oooSample{t, v})
	o.n++
	o.perRange[floorDiv(t, o.r)]++
	o.mint = min(o.mint, t)
	o.maxt = max(o.maxt, t)
	return sampleAppended
}

// drop forgets the late samples of ref (its series is gone).
func (o *oooHead) drop(ref uint32) {
	if o == nil {
		return
	}
	for _, x := range o.series[ref] {
		q := floorDiv(x.t, o.r)
		if o.perRange[q]--; o.perRange[q] <= 0 {
			delete(o.perRange, q)
		}
	}
	o.n -= len(o.series[ref])
	delete(o.series, ref)
}

func (o *oooHead) has(ref uint32) bool { return o != nil && len(o.series[ref]) > 0 }

// oooBytesPerSample and oooBytesPerSeries estimate the out-of-order head's
// memory for the head bound: 16 bytes per sample plus slice growth, a map
// entry and slice header per series.
const (
	oooBytesPerSample = 24
	oooBytesPerSeries = 64
)

func (o *oooHead) bytes() int64 {
	if o == nil {
		return 0
	}
	return int64(o.n)*oooBytesPerSample + int64(len(o.series))*oooBytesPerSeries
}

// oooCutSamples is the size at which a shard's out-of-order head is cut
// even when no in-order cut is due (a backfill into a quiet database).
const oooCutSamples = 1 << 20

// oooDue reports whether the out-of-order head should be persisted now.
func (s *Shard) oooDue() bool { return s.ooo.n >= oooCutSamples }

// appendOOOChunks appends to dst the late samples of ref in [mint, maxt]
// (from the out-of-order head and from the one a running cut persists) as
// XOR chunks encoded onto arena.
func (s *Shard) appendOOOChunks(dst []chunkstore.Chunk, arena []byte, ref uint32, mint, maxt int64) ([]chunkstore.Chunk, []byte) {
	for _, o := range []*oooHead{s.oooCut, s.ooo} {
		if !o.has(ref) {
			continue
		}
		ss := o.series[ref]
		i, _ := slices.BinarySearchFunc(ss, mint, cmpOOO)
		var app chunkstore.Appender
		for i < len(ss) && ss[i].t <= maxt {
			j := min(len(ss), i+s.opts.ChunkSamples)
			for k := i; k < j; k++ {
				if ss[k].t > maxt {
					j = k
					break
				}
			}
			app.Reset(nil)
			for _, x := range ss[i:j] {
				app.Append(x.t, x.v)
			}
			c := app.Chunk()
			n := len(arena)
			arena = append(arena, c.Data...)
			c.Data = arena[n:len(arena):len(arena)]
			dst = append(dst, c)
			i = j
		}
	}
	return dst, arena
}

// oooSnapshot is what a head cut persists of the out-of-order head: the
// head itself (moved to s.oooCut until the cut lands), each series' labels
// and head tombstones.
type oooSnapshot struct {
	head     *oooHead
	series   []oooSeries // sorted by labels
	boundary int64       // blocks end at or before it
	// ranges, for a history cut, are the block range indexes taken
	// (sorted): the samples of other ranges stay in the out-of-order
	// head. Nil for a head cut, which takes every sample before boundary.
	ranges []int64
}

// took reports whether the snapshot holds every late sample at t that
// was logged through the cut's sealed WAL segment (the checkpoint drops
// those).
func (o *oooSnapshot) took(t int64) bool {
	if t >= o.boundary {
		return false
	}
	if o.ranges == nil {
		return true
	}
	_, found := slices.BinarySearch(o.ranges, floorDiv(t, o.head.r))
	return found
}

type oooSeries struct {
	ref     uint32
	lset    labels.Labels
	deleted block.Intervals
}

// takeOOO moves the late samples before boundary to s.oooCut for a cut
// and returns their snapshot (nil when there are none). Later ones stay:
// a block of late samples never ends after the cut's boundary, and the cut
// writes it after its in-order block, so the newest block's end, which
// Open takes as the head's lower bound (WAL samples below it are skipped
// as persisted), is never past the in-order data persisted.
// Runs on the shard goroutine.
func (s *Shard) takeOOO(boundary int64) *oooSnapshot {
	if !s.ooo.hasBelow(boundary) || s.oooCut != nil {
		return nil
	}
	cut, rest := newOOOHead(s.ooo.r), newOOOHead(s.ooo.r)
	for ref, ss := range s.ooo.series {
		i, _ := slices.BinarySearchFunc(ss, boundary, cmpOOO)
		if i > 0 {
			cut.add(ref, ss[:i:i])
		}
		if i < len(ss) {
			rest.add(ref, ss[i:])
		}
	}
	snap := s.snapshotOOO(cut)
	snap.boundary = boundary
	s.oooCut, s.ooo = cut, rest
	return snap
}

// hasBelow reports whether o holds a sample before t.
func (o *oooHead) hasBelow(t int64) bool {
	if o == nil || o.n == 0 || o.mint >= t {
		return false
	}
	for _, ss := range o.series {
		if len(ss) > 0 && ss[0].t < t {
			return true
		}
	}
	return false
}

// add sets the samples of ref (sorted, unique; not held yet).
func (o *oooHead) add(ref uint32, ss []oooSample) {
	o.series[ref] = ss
	o.n += len(ss)
	for _, x := range ss {
		o.perRange[floorDiv(x.t, o.r)]++
	}
	o.mint = min(o.mint, ss[0].t)
	o.maxt = max(o.maxt, ss[len(ss)-1].t)
}

// snapshotOOO returns a snapshot of the out-of-order head o (s.ooo, or the
// part a cut takes) without moving it. The samples slices are shared: the
// shard goroutine replaces the head at a cut and changes a sample in place
// only by insert, so callers that keep the head live copy it (see Snapshot).
func (s *Shard) snapshotOOO(o *oooHead) *oooSnapshot {
	snap := &oooSnapshot{head: o, boundary: math.MaxInt64}
	for ref := range o.series {
		ms := s.head.get(ref)
		if ms == nil {
			continue // NB: removeSeries drops late samples with their series
		}
		snap.series = append(snap.series, oooSeries{ref: ref, lset: s.head.labels(ms), deleted: s.tombs[ref]})
	}
	slices.SortFunc(snap.series, func(a, b oooSeries) int { return labels.Compare(a.lset, b.lset) })
	return snap
}

// untakeOOO gives a failed cut's late samples back to the out-of-order
// head. Runs on the shard goroutine.
func (s *Shard) untakeOOO() {
	if s.oooCut == nil {
		return
	}
	for ref, ss := range s.oooCut.series {
		if s.head.get(ref) == nil {
			continue
		}
		for _, x := range ss {
			s.ooo.insert(ref, x.t, x.v)
		}
	}
	s.oooCut = nil
}

// writeOOOBlocks writes the snapshot's late samples into one block per
// block range they touch. Runs on the worker goroutine.
func (s *Shard) writeOOOBlocks(parent string, snap *oooSnapshot) ([]*block.Block, error) {
	if snap == nil {
		return nil, nil
	}
	r := s.opts.BlockRange.Milliseconds()
	var qs []int64
	for _, ss := range snap.head.series {
		for _, x := range ss {
			q := floorDiv(x.t, r)
			if len(qs) == 0 || qs[len(qs)-1] != q {
				qs = append(qs, q)
			}
		}
	}
	slices.Sort(qs)
	qs = slices.Compact(qs)
	var out []*block.Block
	fail := func(err error) ([]*block.Block, error) {
		for _, b := range out {
			_ = b.MarkForDeletion()
			_ = b.Close()
		}
		return nil, err
	}
	var app chunkstore.Appender
	for _, q := range qs {
		lo, hi := q*r, min(q*r+r, snap.boundary)
		w, err := block.NewWriter(parent, lo, hi, block.WriterOptions{})
		if err != nil {
			return fail(err)
		}
		wrote := 0
		for _, os := range snap.series {
			ss := snap.head.series[os.ref]
			i, _ := slices.BinarySearchFunc(ss, lo, cmpOOO)
			var chunks []chunkstore.Chunk
			for i < len(ss) && ss[i].t < hi {
				app.Reset(nil)
				for n := 0; i < len(ss) && ss[i].t < hi && n < s.opts.ChunkSamples; n++ {
					app.Append(ss[i].t, ss[i].v)
					i++
				}
				chunks = append(chunks, app.Chunk())
			}
			if len(os.deleted) > 0 {
				if chunks, err = applyIntervals(chunks, os.deleted); err != nil {
					w.Abort()
					return fail(fmt.Errorf("series %s: %w", os.lset, err))
				}
			}
			if len(chunks) == 0 {
				continue
			}
			if err := w.AddSeries(os.lset, chunks); err != nil {
				w.Abort()
				return fail(fmt.Errorf("add late series %s: %w", os.lset, err))
			}
			wrote++
		}
		if wrote == 0 {
			w.Abort()
			continue
		}
		meta, err := w.Finish()
		if err != nil {
			return fail(err)
		}
		b, err := block.Open(filepath.Join(parent, meta.ULID.String()), block.OpenOptions{})
		if err != nil {
			return fail(err)
		}
		out = append(out, b)
		s.crashPoint("late block written")
	}
	return out, nil
}

// inOrderLookup classifies a late sample against the in-order head's
// samples of ms at t: duplicate, conflict, or appended when the head holds
// none at t. It decodes at most the chunks whose range holds t (the open
// chunk, or a walk of the closed chain); a damaged chunk counts as holding
// none (its read fails the query anyway).
func (s *Shard) inOrderLookup(ms *memSeries, t int64, v float64) sampleResult {
	if !ms.hasSamples() || t > ms.app.MaxTime() || t < s.queryMinT {
		return sampleAppended
	}
	find := func(c chunkstore.Chunk) sampleResult {
		it := &s.scratch.it
		it.Reset(c)
		if !it.SeekTo(t) {
			return sampleAppended
		}
		if ct, cv := it.At(); ct == t {
			if math.Float64bits(cv) == math.Float64bits(v) {
				return sampleDuplicate
			}
			return sampleConflict
		}
		return sampleAppended
	}
	if t >= ms.app.MinTime() {
		return find(ms.app.Chunk())
	}
	for cr, crMaxT := ms.lastClosed, int64(math.MaxInt64); cr != 0 && crMaxT >= t; {
		c, prev, prevMaxT, err := s.hc.chunk(cr)
		if err != nil {
			return sampleAppended
		}
		if t >= c.MinT && t <= c.MaxT {
			return find(c)
		}
		cr, crMaxT = prev, prevMaxT
	}
	return sampleAppended
}

// insertLate stores a late sample unless the in-order head, the
// out-of-order head (or the part a running cut took) or, before queryMinT,
// a block holds its timestamp (blockLookup). The live path (after the
// message's in-order samples are appended) and replay (after the samples
// records before it are flushed) call it on the same state, so both keep
// the same samples.
func (s *Shard) insertLate(ms *memSeries, ref uint32, t int64, v float64) sampleResult {
	if r := s.inOrderLookup(ms, t, v); r != sampleAppended {
		return r
	}
	if s.oooCut.has(ref) {
		// Taken by the running cut, not yet in a published block.
		if _, r := findOOO(s.oooCut.series[ref], t, v); r != sampleAppended {
			return r
		}
	}
	if t < s.queryMinT {
		if r := s.blockLookup(ms, t, v); r != sampleAppended {
			return r
		}
	}
	return s.ooo.insert(ref, t, v)
}
