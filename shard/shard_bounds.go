package shard

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/silverback-tsdb/tsdb/stages"
)

// Time bounds.
//
// A shard admits a sample only inside [lo, hi] (admitBounds), read once per
// append message from the wall clock (Options.Now):
//   - hi is Options.MaxFuture after the clock (default DefaultMaxFuture),
//     and never after MaxTimestamp;
//   - lo is Options.Retention before the clock when retention is set (such
//     a sample would be deleted at once), and never before MinTimestamp.
//
// The hard limits ±2^62 ms (±146 million years) keep every boundary
// computation (range starts and ends, block bounds, time deltas of one
// chunk) inside int64: MinInt64 and MaxInt64 are never stored. Samples
// replayed from the WAL were admitted once and are not checked again.
//
// The head's window follows the wall clock and the data, not single
// samples: head cuts start at the oldest block range that holds
// unpersisted samples (head.ranges, so an old sample costs one cut, not one
// per empty range up to the present), and they are triggered and bounded
// by the watermark min(newest sample, wall clock), so a sample ahead of
// the clock never persists, or closes to appends, the range the clock is
// in. GC and retention measure age from the same watermark.

// DefaultMaxFuture is how far ahead of the wall clock a sample may be by
// default (Options.MaxFuture), as VictoriaMetrics.
const DefaultMaxFuture = 48 * time.Hour

// MinTimestamp and MaxTimestamp are the earliest and latest timestamps
// (ms) a shard stores, whatever the options.
const (
	MinTimestamp int64 = -(1 << 62)
	MaxTimestamp int64 = 1 << 62
)

// nowMs reads the shard's wall clock in milliseconds.
func (s *Shard) nowMs() int64 { return s.opts.Now().UnixMilli() }

// admitBounds returns the inclusive range of timestamps an append message
// read at now (ms) admits.
func (s *Shard) admitBounds(now int64) (lo, hi int64) {
	lo, hi = MinTimestamp, MaxTimestamp
	if s.opts.MaxFuture > 0 && now < MaxTimestamp-s.opts.MaxFuture.Milliseconds() {
		hi = min(hi, now+s.opts.MaxFuture.Milliseconds())
	}
	if s.opts.Retention > 0 && now > MinTimestamp+s.opts.Retention.Milliseconds() {
		lo = max(lo, now-s.opts.Retention.Milliseconds())
	}
	return lo, hi
}

// boundsReject describes a sample outside admitBounds.
func (s *Shard) boundsReject(st *stages.AppendStats, lset fmt.Stringer, t, lo, hi, now int64) stages.Reject {
	var rj stages.Reject
	switch {
	case t > hi && hi < MaxTimestamp:
		rj.Reason = stages.RejectTooFarInFuture
		if st.KeepsDetail() {
			rj.Detail = fmt.Sprintf("sample at %d for series %s is too far in the future: more than %v ahead of the clock (%d); the bound is --ingest.max-future", t, lset, s.opts.MaxFuture, now)
		}
	case t > hi:
		rj.Reason = stages.RejectTooFarInFuture
		if st.KeepsDetail() {
			rj.Detail = fmt.Sprintf("sample at %d for series %s is after the latest supported timestamp %d", t, lset, MaxTimestamp)
		}
	case lo > MinTimestamp:
		rj.Reason = stages.RejectOlderThanRetention
		if st.KeepsDetail() {
			rj.Detail = fmt.Sprintf("sample at %d for series %s is older than the retention of %v before the clock (%d)", t, lset, s.opts.Retention, now)
		}
	default:
		rj.Reason = stages.RejectTooOld
		if st.KeepsDetail() {
			rj.Detail = fmt.Sprintf("sample at %d for series %s is before the earliest supported timestamp %d", t, lset, MinTimestamp)
		}
	}
	return rj
}

// headRange is one block range of the head holding samples not yet
// persisted: its index (floor of t / BlockRange) and its smallest sample.
type headRange struct {
	q    int64
	minT int64
}

// noteRange records that the head holds a sample at t. The hot path (a
// sample in the range last noted, not below its smallest sample) is two
// comparisons; otherwise the sorted range list is updated.
func (s *Shard) noteRange(t int64) {
	h := s.head
	if t >= h.rangeLo && t < h.rangeHi {
		return
	}
	r := s.opts.BlockRange.Milliseconds()
	q := floorDiv(t, r)
	i, found := slices.BinarySearchFunc(h.ranges, q, func(x headRange, q int64) int {
		switch {
		case x.q < q:
			return -1
		case x.q > q:
			return 1
		}
		return 0
	})
	if found {
		h.ranges[i].minT = min(h.ranges[i].minT, t)
	} else {
		h.ranges = slices.Insert(h.ranges, i, headRange{q: q, minT: t})
	}
	h.rangeLo, h.rangeHi = h.ranges[i].minT, q*r+r
}

// oldestUnpersisted returns the smallest sample time at or after floor
// that the head may hold (the start of the oldest range ending after
// floor, at its smallest sample, not below floor), or math.MaxInt64 when
// the head holds no sample at or after floor.
func (s *Shard) oldestUnpersisted(floor int64) int64 {
	r := s.opts.BlockRange.Milliseconds()
	for _, x := range s.head.ranges {
		if x.q*r+r > floor {
			return max(x.minT, floor)
		}
	}
	return math.MaxInt64
}

// dropRanges forgets the ranges that end at or before boundary (a head
// cut persisted them).
func (s *Shard) dropRanges(boundary int64) {
	h := s.head
	r := s.opts.BlockRange.Milliseconds()
	n := 0
	for n < len(h.ranges) && h.ranges[n].q*r+r <= boundary {
		n++
	}
	if n > 0 {
		h.ranges = slices.Delete(h.ranges, 0, n)
	}
	h.rangeLo, h.rangeHi = 1, 0 // the cache may name a dropped range
}

// watermark is the time the head's window follows: its newest sample, but
// never after the wall clock now (ms).
func (s *Shard) watermark(now int64) int64 { return min(s.head.maxt, now) }
