package loadgen

import (
	"math"
	"sync/atomic"
	"time"
)

// Latency histogram: fixed log-scale buckets, histStepsPerDoubling per
// power of two from 1 µs, so a quantile read from it is within ±4.5 % (half
// a bucket) of the true value; the last bucket holds everything from about
// 36 minutes up. Recording is one atomic add, with no allocation.
const (
	histStepsPerDoubling = 8
	histBuckets          = 32 * histStepsPerDoubling // 1 µs · 2^32
)

// histogram counts request latencies. Safe for concurrent use.
type histogram struct {
	counts [histBuckets]atomic.Uint64
}

// histBucket returns the bucket of d.
func histBucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	b := int(math.Log2(us) * histStepsPerDoubling)
	return min(b, histBuckets-1)
}

// histValue is the representative value of bucket b: the geometric middle
// of its bounds.
func histValue(b int) time.Duration {
	us := math.Exp2((float64(b) + 0.5) / histStepsPerDoubling)
	return time.Duration(us * float64(time.Microsecond))
}

func (h *histogram) record(d time.Duration) { h.counts[histBucket(d)].Add(1) }

// histSnapshot is a copy of a histogram's counts.
type histSnapshot [histBuckets]uint64

func (h *histogram) snapshot(dst *histSnapshot) {
	for i := range h.counts {
		dst[i] = h.counts[i].Load()
	}
}

// sub returns s - o (the requests recorded between two snapshots).
func (s *histSnapshot) sub(o *histSnapshot) histSnapshot {
	var d histSnapshot
	for i := range s {
		d[i] = s[i] - o[i]
	}
	return d
}

// quantile returns the q-quantile (0 < q <= 1) of the recorded latencies,
// or 0 when none was recorded.
func (s *histSnapshot) quantile(q float64) time.Duration {
	var total uint64
	for _, c := range s {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range s {
		seen += c
		if seen >= rank {
			return histValue(b)
		}
	}
	return histValue(histBuckets - 1)
}
