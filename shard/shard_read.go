package shard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/postings"
)

// ErrClosed is returned by View once the shard has stopped.
var ErrClosed = errors.New("shard: closed")

// viewReq is a read request served on the shard goroutine.
type viewReq struct {
	fn   func(*View) error
	done chan error // capacity 1: the shard never blocks on it
}

func (r *viewReq) serve(s *Shard) {
	r.done <- r.fn(&View{s: s})
}

// View runs fn on the shard goroutine between two append messages, with a
// consistent read-only view of the head. It is how queries read a shard:
// cheap work (postings, chunk references, copying the open chunk) happens
// inside fn; iteration happens outside, on data fn copied or on mapped
// chunks it took references on (View.AcquireFiles). fn must not block and
// must not retain the View. Safe for concurrent use; returns ErrClosed after
// the shard stopped, or ctx.Err() if the shard did not pick the request up
// in time.
func (s *Shard) View(ctx context.Context, fn func(*View) error) error {
	req := &viewReq{fn: fn, done: make(chan error, 1)}
	select {
	case s.reads <- req:
	case <-s.done:
		return fmt.Errorf("shard %d: %w", s.id, ErrClosed)
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-req.done
}

// View is a read-only view of one shard's head, valid only inside the
// function given to Shard.View. Not safe to retain or share.
type View struct {
	s *Shard
}

// ReadGen identifies the head state that a read done in several View calls
// depends on: the ref epoch (it changes when refs are freed and may be
// reused) and the query lower bound (it moves when a head cut published a
// block, after which older head chunks are hidden and their files may be
// released). Two calls that see the same ReadGen see the same series at the
// same refs and the same head range; a piecewise read whose ReadGen changed
// must start again (the blocks it took may lack the new one).
type ReadGen struct {
	epoch     uint32
	queryMinT int64
	lateGen   uint64 // late samples moved from the head to blocks
}

// ReadGen returns the current read generation.
func (v *View) ReadGen() ReadGen {
	return ReadGen{epoch: v.s.head.epoch, queryMinT: v.s.queryMinT, lateGen: v.s.lateGen}
}

// HeadBytes returns the head memory estimate that HeadMaxBytes bounds
// (series overhead plus open chunk buffers), in bytes.
func (v *View) HeadBytes() int64 { return v.s.headBytes() }

// OpenChunkBytes returns the summed capacity of the open chunks' buffers.
func (v *View) OpenChunkBytes() int64 { return v.s.head.openBytes }

// MappedBytes returns the bytes of the head's memory outside the Go heap:
// series slabs, open chunk buffers (with free blocks) and the hash table
// (anonymous mappings; resident once touched).
func (v *View) MappedBytes() int64 { return v.s.head.mappedBytes() }

// NumSeries returns the number of active series.
func (v *View) NumSeries() int { return v.s.head.active }

// Bounds returns the smallest and largest timestamp in the head; mint >
// maxt when the head is empty.
// The late samples of the out-of-order head count.
func (v *View) Bounds() (mint, maxt int64) {
	mint, maxt = v.s.head.mint, v.s.head.maxt
	for _, o := range []*oooHead{v.s.ooo, v.s.oooCut} {
		if o != nil && o.n > 0 {
			mint, maxt = min(mint, o.mint), max(maxt, o.maxt)
		}
	}
	return mint, maxt
}

// Postings returns the refs of the series matching ms (owned by the caller).
func (v *View) Postings(ms ...*labels.Matcher) (*roaring.Bitmap, error) {
	return v.s.head.index.Select(ms...)
}

// LabelNames returns the sorted label names of series matching ms (all
// series when ms is empty).
func (v *View) LabelNames(ms ...*labels.Matcher) ([]string, error) {
	return v.s.head.index.LabelNames(ms...)
}

// LabelValues returns the sorted values of label name over series matching
// ms (all series when ms is empty).
func (v *View) LabelValues(name string, ms ...*labels.Matcher) ([]string, error) {
	return v.s.head.index.LabelValues(name, ms...)
}

// Stats returns the postings cardinality statistics.
func (v *View) Stats(topN int) postings.Stats { return v.s.head.index.Stats(topN) }

// Labels returns the labels of the series at ref.
func (v *View) Labels(ref uint32) (labels.Labels, bool) {
	ms := v.s.head.get(ref)
	if ms == nil {
		return labels.EmptyLabels(), false
	}
	return v.s.head.labels(ms), true
}

// Chunks appends to dst the chunks of series ref that overlap [mint, maxt],
// oldest first, and returns them with the grown arena. Closed chunks alias
// the mapped head chunk files (valid while the caller holds the references
// from AcquireFiles); the open chunk, last, is copied onto arena because it
// changes with the next append. A damaged closed chunk ends the walk (the
// link to the older chunks is in its record): the chunks newer than it and
// the open chunk are still returned, with a *HeadChunkError naming the file
// and offset and the time range the damage hides, so a reader can serve the
// rest of the series and report the damaged part. The series' late samples
// (out-of-order head) follow as chunks encoded onto arena, and then all the
// chunks are sorted by MinT: they may overlap, which the caller detects by
// MinT <= previous MaxT.
func (v *View) Chunks(dst []chunkstore.Chunk, arena []byte, ref uint32, mint, maxt int64) ([]chunkstore.Chunk, []byte, error) {
	start := len(dst)
	if v.s.ooo.has(ref) || v.s.oooCut.has(ref) {
		// A damaged in-order chunk still returns the rest (and the late
		// samples), with its error.
		var err error
		dst, arena, err = v.inOrderChunks(dst, arena, ref, mint, maxt)
		dst, arena = v.s.appendOOOChunks(dst, arena, ref, mint, maxt)
		slices.SortStableFunc(dst[start:], func(a, b chunkstore.Chunk) int { return cmp.Compare(a.MinT, b.MinT) })
		return dst, arena, err
	}
	return v.inOrderChunks(dst, arena, ref, mint, maxt)
}

func (v *View) inOrderChunks(dst []chunkstore.Chunk, arena []byte, ref uint32, mint, maxt int64) ([]chunkstore.Chunk, []byte, error) {
	mint = max(mint, v.s.queryMinT) // older head chunks are in blocks
	ms := v.s.head.get(ref)
	if ms == nil || !ms.hasSamples() || ms.app.MaxTime() < mint {
		return dst, arena, nil
	}
	start := len(dst)
	var damaged *HeadChunkError
	// Walk the closed chain from the newest; stop at the first chunk that
	// ends before mint, without touching it.
	for cr, crMaxT := ms.lastClosed, int64(math.MaxInt64); cr != 0 && crMaxT >= mint; {
		c, prev, prevMaxT, err := v.s.hc.chunk(cr)
		if err != nil {
			damaged = &HeadChunkError{Shard: v.s.id, Series: v.s.head.labels(ms), MinT: mint, MaxT: min(crMaxT, maxt), Err: err}
			break
		}
		if c.MinT <= maxt && c.MaxT >= mint {
			dst = append(dst, c)
		}
		cr, crMaxT = prev, prevMaxT
	}
	slices.Reverse(dst[start:])
	if c := ms.app.Chunk(); c.MaxT >= mint && c.MinT <= maxt {
		n := len(arena)
		arena = append(arena, c.Data...)
		c.Data = arena[n:len(arena):len(arena)]
		dst = append(dst, c)
	}
	if damaged != nil {
		return dst, arena, damaged
	}
	return dst, arena, nil
}

// Deleted returns the head tombstones of series ref (shared; do not modify).
func (v *View) Deleted(ref uint32) block.Intervals { return v.s.tombs[ref] }

// Blocks appends to dst the shard's blocks that overlap [mint, maxt],
// oldest first, each acquired for the caller, who must Release each.
func (v *View) Blocks(dst []*block.Block, mint, maxt int64) []*block.Block {
	for _, b := range v.s.blocks {
		m := b.Meta()
		if m.MaxTime <= mint || m.MinTime > maxt {
			continue
		}
		if b.Acquire() {
			dst = append(dst, b)
		}
	}
	return dst
}

// HeadMinTime returns the smallest timestamp a query can see in the head;
// older data is in blocks.
func (v *View) HeadMinTime() int64 {
	m := max(v.s.head.mint, v.s.queryMinT)
	for _, o := range []*oooHead{v.s.ooo, v.s.oooCut} {
		if o != nil && o.n > 0 {
			m = min(m, o.mint)
		}
	}
	return m
}

// FileRefs holds reader references on mapped head chunk files.
type FileRefs struct {
	files []*headFile
}

// AcquireFiles takes a reference on every mapped head chunk file, so that
// closed chunks from Chunks stay valid after fn returns. Call Release
// exactly once when done with them.
func (v *View) AcquireFiles() *FileRefs {
	return &FileRefs{files: v.s.hc.acquireAll(nil)}
}

// Release drops the references; the last one of a closed shard unmaps. Safe
// to call from any goroutine, once.
func (r *FileRefs) Release() {
	for _, f := range r.files {
		f.release()
	}
	r.files = nil
}
