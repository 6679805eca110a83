package pipeline

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"golang.org/x/sync/errgroup"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/shard"
)

// Querier reads the samples in [mint, maxt] (ms, inclusive). It holds
// references on the mapped chunk files of everything it returned until
// Close. Owned by one goroutine.
type Querier struct {
	db         *DB
	mint, maxt int64
	refs       []*shard.FileRefs
	closed     bool
}

// Querier returns a querier over [mint, maxt]. Close it when done.
func (db *DB) Querier(mint, maxt int64) (*Querier, error) {
	if mint > maxt {
		return nil, fmt.Errorf("querier: mint %d after maxt %d", mint, maxt)
	}
	db.intake.RLock()
	closed := db.intake.closed
	db.intake.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	return &Querier{db: db, mint: mint, maxt: maxt}, nil
}

// Close releases the querier's chunk file references. Series sets it
// returned must not be used afterwards. Idempotent.
func (q *Querier) Close() error {
	for _, r := range q.refs {
		r.Release()
	}
	q.refs = nil
	q.closed = true
	return nil
}

// seriesData is one selected series: its labels and the chunks overlapping
// the querier's range, oldest first.
type seriesData struct {
	lset   labels.Labels
	chunks []chunkstore.Chunk
}

// Select returns the series matching ms, sorted by labels, fanned out to
// every shard concurrently and fanned back in. Matchers follow Prometheus
// semantics; at least one must not match the empty string.
func (q *Querier) Select(ctx context.Context, ms ...*labels.Matcher) (*SeriesSet, error) {
	if q.closed {
		return nil, fmt.Errorf("select on a closed querier")
	}
	parts := make([][]seriesData, len(q.db.shards))
	refs := make([]*shard.FileRefs, len(q.db.shards))
	var g errgroup.Group
	for i, s := range q.db.shards {
		g.Go(func() error {
			var out []seriesData
			var arena []byte
			err := s.View(ctx, func(v *shard.View) error {
				if hmin, hmax := v.Bounds(); hmin > q.maxt || hmax < q.mint {
					return nil
				}
				bm, err := v.Postings(ms...)
				if err != nil {
					return err
				}
				if bm.IsEmpty() {
					return nil
				}
				refs[i] = v.AcquireFiles()
				it := bm.Iterator()
				var chunks []chunkstore.Chunk
				for it.HasNext() {
					ref := it.Next()
					start := len(chunks)
					chunks, arena, err = v.Chunks(chunks, arena, ref, q.mint, q.maxt)
					if err != nil {
						return err
					}
					if len(chunks) == start {
						continue
					}
					lset, _ := v.Labels(ref)
					out = append(out, seriesData{lset: lset, chunks: chunks[start:len(chunks):len(chunks)]})
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("shard %d: %w", i, err)
			}
			// Sorting happens here, off the shard goroutine.
			slices.SortFunc(out, func(a, b seriesData) int { return labels.Compare(a.lset, b.lset) })
			parts[i] = out
			return nil
		})
	}
	err := g.Wait()
	for _, r := range refs {
		if r != nil {
			q.refs = append(q.refs, r)
		}
	}
	if err != nil {
		return nil, err
	}
	return &SeriesSet{series: mergeSorted(parts), mint: q.mint, maxt: q.maxt}, nil
}

// mergeSorted merges per-shard sorted series lists. Shards hold disjoint
// series, so no two entries are equal.
func mergeSorted(parts [][]seriesData) []seriesData {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]seriesData, 0, n)
	idx := make([]int, len(parts))
	for len(out) < n {
		best := -1
		for i, p := range parts {
			if idx[i] >= len(p) {
				continue
			}
			if best < 0 || labels.Compare(p[idx[i]].lset, parts[best][idx[best]].lset) < 0 {
				best = i
			}
		}
		out = append(out, parts[best][idx[best]])
		idx[best]++
	}
	return out
}

// LabelNames returns the sorted, distinct label names of the series
// matching ms (all series when ms is empty).
func (q *Querier) LabelNames(ctx context.Context, ms ...*labels.Matcher) ([]string, error) {
	return q.fanStrings(ctx, func(v *shard.View) ([]string, error) { return v.LabelNames(ms...) })
}

// LabelValues returns the sorted, distinct values of label name over the
// series matching ms (all series when ms is empty).
func (q *Querier) LabelValues(ctx context.Context, name string, ms ...*labels.Matcher) ([]string, error) {
	return q.fanStrings(ctx, func(v *shard.View) ([]string, error) { return v.LabelValues(name, ms...) })
}

func (q *Querier) fanStrings(ctx context.Context, fn func(*shard.View) ([]string, error)) ([]string, error) {
	parts := make([][]string, len(q.db.shards))
	var g errgroup.Group
	for i, s := range q.db.shards {
		g.Go(func() error {
			return s.View(ctx, func(v *shard.View) error {
				var err error
				parts[i], err = fn(v)
				return err
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// SeriesSet iterates selected series in label order. Owned by one goroutine.
type SeriesSet struct {
	series     []seriesData
	mint, maxt int64
	i          int
	cur        Series
}

// Next advances to the next series.
func (ss *SeriesSet) Next() bool {
	if ss.i >= len(ss.series) {
		return false
	}
	ss.cur = Series{data: &ss.series[ss.i], mint: ss.mint, maxt: ss.maxt}
	ss.i++
	return true
}

// At returns the current series; valid until the next call to Next.
func (ss *SeriesSet) At() *Series { return &ss.cur }

// Err returns nil: selection errors are returned by Select itself.
func (ss *SeriesSet) Err() error { return nil }

// Len returns the number of series in the set.
func (ss *SeriesSet) Len() int { return len(ss.series) }

// Series is one selected series.
type Series struct {
	data       *seriesData
	mint, maxt int64
}

// Labels returns the series' labels.
func (s *Series) Labels() labels.Labels { return s.data.lset }

// Chunks returns the series' chunks overlapping the querier's range, oldest
// first; samples outside the range may be at their ends. The Data of each
// aliases mapped or copied memory valid until the querier is closed. This
// is the in-place access that function push-down evaluates over.
func (s *Series) Chunks() []chunkstore.Chunk { return s.data.chunks }

// Iterator returns an iterator over the series' samples within the
// querier's range. When reuse is non-nil it is reset and returned.
func (s *Series) Iterator(reuse *SampleIterator) *SampleIterator {
	if reuse == nil {
		reuse = &SampleIterator{}
	}
	reuse.reset(s.data.chunks, s.mint, s.maxt)
	return reuse
}

// SampleIterator iterates one series' samples across its chunks, bounded to
// [mint, maxt]. Errors are sticky (Err).
type SampleIterator struct {
	chunks     []chunkstore.Chunk
	mint, maxt int64
	ci         int  // index of the chunk it iterates; -1 before the first
	valid      bool // At is a sample in range
	done       bool
	it         chunkstore.Iterator
	err        error
}

func (si *SampleIterator) reset(chunks []chunkstore.Chunk, mint, maxt int64) {
	*si = SampleIterator{chunks: chunks, mint: mint, maxt: maxt, ci: -1}
}

// Next advances to the next sample in range.
func (si *SampleIterator) Next() bool { return si.advance(si.mint) }

// SeekTo advances to the first sample at or after t (and in range); it does
// not move backwards: if the current sample is at or after t it stays.
func (si *SampleIterator) SeekTo(t int64) bool {
	if si.valid {
		if ct, _ := si.it.At(); ct >= t {
			return true
		}
	}
	return si.advance(max(t, si.mint))
}

// advance moves to the next sample with timestamp >= from, skipping whole
// chunks that end before it.
func (si *SampleIterator) advance(from int64) bool {
	si.valid = false
	for !si.done {
		if si.ci >= 0 {
			ok := si.it.Next()
			if ok {
				if t, _ := si.it.At(); t < from {
					ok = si.it.SeekTo(from)
				}
			}
			if ok {
				if t, _ := si.it.At(); t > si.maxt {
					si.done = true
					return false
				}
				si.valid = true
				return true
			}
			if err := si.it.Err(); err != nil {
				si.err = err
				si.done = true
				return false
			}
		}
		si.ci++
		for si.ci < len(si.chunks) && si.chunks[si.ci].MaxT < from {
			si.ci++
		}
		if si.ci >= len(si.chunks) || si.chunks[si.ci].MinT > si.maxt {
			si.done = true
			return false
		}
		si.it.Reset(si.chunks[si.ci])
	}
	return false
}

// At returns the current sample.
func (si *SampleIterator) At() (int64, float64) { return si.it.At() }

// Err returns the first decoding error met.
func (si *SampleIterator) Err() error { return si.err }
