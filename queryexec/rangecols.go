package queryexec

import (
	"math"
	"unsafe"

	"github.com/prometheus/prometheus/model/value"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/pipeline"
)

// colWindows gives a range function its windows straight from the decoded
// columns of a series' chunks: a window inside one decoded (decimal) chunk
// without stale markers is a view of the decoder's timestamp and value
// columns, not a copy. Only a window that spans two chunks, or holds a
// stale marker, is assembled in a scratch buffer (the rest of the earlier
// chunk is carried over, at most one window's samples). XOR chunks (the
// head's) are decoded sample by sample into a buffer of their own.
//
// It serves series whose chunks do not overlap and have no deleted
// intervals or damage (usable), for windows (start, end] that move forward
// with start and end both non-decreasing from one call to the next: the
// steps of a range function without @ and without the anchored and
// smoothed modifiers. Everything else takes SampleIterator.Fill.
type colWindows struct {
	chunks []pipeline.SeriesChunk
	next   int // index of the next chunk to load
	it     chunkstore.Iterator
	// ct, cf: the loaded chunk's samples (views of the decoder's columns,
	// or own/ownF for XOR chunks); stale: some value is a stale marker.
	ct    []int64
	cf    []float64
	stale bool
	lo    int // first sample of ct after the last window's start
	hi    int // first sample of ct after the last window's end
	own   []int64
	ownF  []float64
	carry windowBuf // samples of earlier chunks still in a window, stale markers dropped
	wt    []int64   // scratch window
	wf    []float64
	err   error
}

// usable reports whether s's chunks can be read by colWindows.
func colUsable(s *pipeline.Series) bool {
	if s.Overlapping() {
		return false
	}
	for _, c := range s.Chunks() {
		if c.Err != nil || len(c.Deleted) > 0 {
			return false
		}
	}
	return true
}

// reset starts on the chunks of another series.
func (cw *colWindows) reset(chunks []pipeline.SeriesChunk) {
	cw.chunks, cw.next, cw.err = chunks, 0, nil
	cw.ct, cw.cf, cw.stale, cw.lo, cw.hi = nil, nil, false, 0, 0
	cw.carry.reset()
}

// load decodes the next chunk (ct, cf), first carrying the current
// chunk's samples after start over.
func (cw *colWindows) load(start int64) bool {
	for i := cw.lo; i < len(cw.ct); i++ {
		if f := cw.cf[i]; !value.IsStaleNaN(f) {
			cw.carry.t, cw.carry.f = append(cw.carry.t, cw.ct[i]), append(cw.carry.f, f)
		}
	}
	c := cw.chunks[cw.next]
	cw.next++
	cw.it.Reset(c.Chunk)
	cw.lo, cw.hi = 0, 0
	if dts, dvs := cw.it.Decoded(); dts != nil {
		cw.ct = dts
		cw.cf = unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(dvs))), len(dvs))
	} else {
		cw.own, cw.ownF = cw.own[:0], cw.ownF[:0]
		for cw.it.Next() {
			t, f := cw.it.At()
			cw.own, cw.ownF = append(cw.own, t), append(cw.ownF, f)
		}
		cw.ct, cw.cf = cw.own, cw.ownF
	}
	if err := cw.it.Err(); err != nil {
		cw.err = err
		cw.ct, cw.cf = nil, nil
		return false
	}
	cw.stale = false
	// No pass over the values when the header or the decode rules a NaN
	// out (the scan was 8 % of a histogram_quantile profile).
	if chunkstore.HoldsNoNaN(c.Chunk) || cw.it.DecodedNoNaN() {
		return true
	}
	for _, f := range cw.cf {
		if math.Float64bits(f) == value.StaleNaN {
			cw.stale = true
			break
		}
	}
	return true
}

// window returns the samples in (start, end] without stale markers. The
// slices are valid until the next call.
func (cw *colWindows) window(start, end int64) ([]int64, []float64) {
	cw.carry.dropTo(start)
	// Chunks wholly at or before start are never decoded.
	for cw.next < len(cw.chunks) && cw.chunks[cw.next].MaxT <= start && cw.chunks[cw.next].MinT <= end {
		cw.next++
		cw.ct, cw.cf, cw.lo, cw.hi = nil, nil, 0, 0
	}
	for cw.next < len(cw.chunks) && cw.chunks[cw.next].MinT <= end && cw.err == nil {
		for cw.lo < len(cw.ct) && cw.ct[cw.lo] <= start {
			cw.lo++
		}
		if !cw.load(start) {
			return nil, nil
		}
	}
	lo := cw.lo
	for lo < len(cw.ct) && cw.ct[lo] <= start {
		lo++
	}
	hi := max(cw.hi, lo)
	for hi < len(cw.ct) && cw.ct[hi] <= end {
		hi++
	}
	cw.lo, cw.hi = lo, hi
	ct, cf := cw.ct[lo:hi], cw.cf[lo:hi]
	if cw.carry.len() == 0 && !cw.stale {
		return ct, cf
	}
	ctT, ctF := cw.carry.upTo(end)
	cw.wt, cw.wf = append(cw.wt[:0], ctT...), append(cw.wf[:0], ctF...)
	for i, t := range ct {
		if f := cf[i]; !value.IsStaleNaN(f) {
			cw.wt, cw.wf = append(cw.wt, t), append(cw.wf, f)
		}
	}
	return cw.wt, cw.wf
}
