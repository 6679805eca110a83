package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"golang.org/x/sync/errgroup"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/shard"
)

// Querier reads the samples in [mint, maxt] (ms, inclusive). It holds
// references on the mapped head chunk files and blocks of everything it
// returned until Close. Owned by one goroutine.
type Querier struct {
	db         *DB
	mint, maxt int64
	refs       []*shard.FileRefs
	blocks     []*block.Block
	closed     bool
}

// Querier returns a querier over [mint, maxt]. Close it when done.
func (db *DB) Querier(mint, maxt int64) (*Querier, error) {
	if mint > maxt {
		return nil, fmt.Errorf("querier: mint %d after maxt %d", mint, maxt)
	}
	if db.closed() {
		return nil, ErrClosed
	}
	return &Querier{db: db, mint: mint, maxt: maxt}, nil
}

// Close releases the querier's references. Series sets it returned must not
// be used afterwards. Idempotent.
func (q *Querier) Close() error {
	for _, r := range q.refs {
		r.Release()
	}
	for _, b := range q.blocks {
		b.Release()
	}
	q.refs, q.blocks = nil, nil
	q.closed = true
	return nil
}

// SeriesChunk is one chunk of a selected series with the time intervals
// deleted from it (tombstones not yet applied by compaction).
type SeriesChunk struct {
	chunkstore.Chunk
	Deleted block.Intervals
}

// seriesData is one selected series: its labels and the chunks overlapping
// the querier's range, sorted by MinT.
type seriesData struct {
	lset   labels.Labels
	chunks []SeriesChunk
	// overlap is set when chunks overlap in time (blocks written by
	// compaction around a crash, or backfill): iteration then merges and
	// de-duplicates equal timestamps.
	overlap bool
}

// Select returns the series matching ms, sorted by labels, fanned out to
// every shard concurrently and fanned back in. Within a shard the head and
// every block overlapping the range are read and merged by series.
// Matchers follow Prometheus semantics; at least one must not match the
// empty string.
func (q *Querier) Select(ctx context.Context, ms ...*labels.Matcher) (*SeriesSet, error) {
	if q.closed {
		return nil, fmt.Errorf("select on a closed querier")
	}
	n := len(q.db.shards)
	parts := make([][]seriesData, n)
	refs := make([]*shard.FileRefs, n)
	blocks := make([][]*block.Block, n)
	var g errgroup.Group
	for i, s := range q.db.shards {
		g.Go(func() error {
			var head []seriesData
			err := s.View(ctx, func(v *shard.View) error {
				blocks[i] = v.Blocks(nil, q.mint, q.maxt)
				var err error
				head, refs[i], err = q.selectHead(v, ms)
				return err
			})
			if err != nil {
				return fmt.Errorf("shard %d: %w", i, err)
			}
			// Everything below runs on this goroutine, off the shard's.
			slices.SortFunc(head, func(a, b seriesData) int { return labels.Compare(a.lset, b.lset) })
			srcs := [][]seriesData{head}
			for _, b := range blocks[i] {
				bs, err := q.selectBlock(b, ms)
				if err != nil {
					return fmt.Errorf("shard %d: %w", i, err)
				}
				srcs = append(srcs, bs)
			}
			parts[i] = mergeSorted(srcs, true)
			return nil
		})
	}
	err := g.Wait()
	for i := range n {
		if refs[i] != nil {
			q.refs = append(q.refs, refs[i])
		}
		q.blocks = append(q.blocks, blocks[i]...)
	}
	if err != nil {
		return nil, err
	}
	return &SeriesSet{series: mergeSorted(parts, false), mint: q.mint, maxt: q.maxt}, nil
}

// selectHead collects the head's matching series on the shard goroutine:
// postings, mapped closed chunks (with file references) and copies of open
// chunks.
func (q *Querier) selectHead(v *shard.View, ms []*labels.Matcher) ([]seriesData, *shard.FileRefs, error) {
	if hmin, hmax := v.Bounds(); hmin > q.maxt || hmax < q.mint || v.HeadMinTime() > q.maxt {
		return nil, nil, nil
	}
	bm, err := v.Postings(ms...)
	if err != nil {
		return nil, nil, err
	}
	if bm.IsEmpty() {
		return nil, nil, nil
	}
	files := v.AcquireFiles()
	var out []seriesData
	var arena []byte
	var chunks []chunkstore.Chunk
	it := bm.Iterator()
	for it.HasNext() {
		ref := it.Next()
		chunks, arena, err = v.Chunks(chunks[:0], arena, ref, q.mint, q.maxt)
		if err != nil {
			files.Release()
			return nil, nil, err
		}
		if len(chunks) == 0 {
			continue
		}
		del := v.Deleted(ref)
		sc := make([]SeriesChunk, 0, len(chunks))
		for _, c := range chunks {
			if !del.Covers(c.MinT, c.MaxT) {
				sc = append(sc, SeriesChunk{Chunk: c, Deleted: del})
			}
		}
		if len(sc) == 0 {
			continue // every sample in range is deleted: no series, as in Prometheus
		}
		lset, _ := v.Labels(ref)
		out = append(out, seriesData{lset: lset, chunks: sc})
	}
	return out, files, nil
}

// selectBlock reads a block's matching series (already in label order, the
// order of block refs). The block is acquired by the caller.
func (q *Querier) selectBlock(b *block.Block, ms []*labels.Matcher) ([]seriesData, error) {
	bm, err := b.Postings(ms...)
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", b.Meta().ULID, err)
	}
	tombs := b.Tombstones()
	var out []seriesData
	var metas []block.ChunkMeta
	it := bm.Iterator()
	for it.HasNext() {
		ref := it.Next()
		var lset labels.Labels
		lset, metas, err = b.Series(ref, metas[:0])
		if err != nil {
			return nil, fmt.Errorf("block %s series %d: %w", b.Meta().ULID, ref, err)
		}
		del := tombs[ref]
		var sc []SeriesChunk
		for _, m := range metas {
			if m.MaxT < q.mint || m.MinT > q.maxt || del.Covers(m.MinT, m.MaxT) {
				continue
			}
			c, err := b.Chunk(m.Ref)
			if err != nil {
				return nil, fmt.Errorf("series %s: %w", lset, err)
			}
			sc = append(sc, SeriesChunk{Chunk: c, Deleted: del})
		}
		if len(sc) > 0 {
			out = append(out, seriesData{lset: lset, chunks: sc})
		}
	}
	return out, nil
}

// mergeSorted merges lists sorted by labels. With combine, entries with
// equal labels (one series in several sources of a shard) are combined into
// one with their chunks ordered by time; without it the lists are disjoint
// (shards hold disjoint series).
func mergeSorted(parts [][]seriesData, combine bool) []seriesData {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]seriesData, 0, n)
	idx := make([]int, len(parts))
	for {
		best := -1
		for i, p := range parts {
			if idx[i] >= len(p) {
				continue
			}
			if best < 0 || labels.Compare(p[idx[i]].lset, parts[best][idx[best]].lset) < 0 {
				best = i
			}
		}
		if best < 0 {
			return out
		}
		cur := parts[best][idx[best]]
		idx[best]++
		if combine && len(out) > 0 && labels.Equal(out[len(out)-1].lset, cur.lset) {
			last := &out[len(out)-1]
			last.chunks = append(slices.Clip(last.chunks), cur.chunks...)
			slices.SortStableFunc(last.chunks, func(a, b SeriesChunk) int { return cmp.Compare(a.MinT, b.MinT) })
			last.overlap = false
			for k := 1; k < len(last.chunks); k++ {
				if last.chunks[k].MinT <= last.chunks[k-1].MaxT {
					last.overlap = true
				}
			}
			continue
		}
		out = append(out, cur)
	}
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

// Chunks returns the series' chunks overlapping the querier's range, sorted
// by MinT; samples outside the range may be at their ends, and samples in a
// chunk's Deleted intervals must be skipped. Data aliases mapped or copied
// memory valid until the querier is closed. This is the in-place access
// that function push-down evaluates over; when Overlapping reports true the
// chunks overlap in time and only the Iterator de-duplicates them.
func (s *Series) Chunks() []SeriesChunk { return s.data.chunks }

// Overlapping reports whether the series' chunks overlap in time.
func (s *Series) Overlapping() bool { return s.data.overlap }

// Iterator returns an iterator over the series' samples within the
// querier's range. When reuse is non-nil it is reset and returned.
func (s *Series) Iterator(reuse *SampleIterator) *SampleIterator {
	if reuse == nil {
		reuse = &SampleIterator{}
	}
	reuse.reset(s.data, s.mint, s.maxt)
	return reuse
}

// SampleIterator iterates one series' samples across its chunks, bounded to
// [mint, maxt], skipping deleted samples. Errors are sticky (Err).
type SampleIterator struct {
	chunks     []SeriesChunk
	mint, maxt int64
	ci         int  // index of the chunk it iterates; -1 before the first
	valid      bool // At is a sample in range
	done       bool
	it         chunkstore.Iterator
	err        error
	// merged holds the de-duplicated samples of overlapping chunks; used
	// instead of chunks when the series overlaps (rare: after a crash in
	// compaction or a backfill).
	merged   []mergedSample
	mi       int
	isMerged bool // iterate merged instead of chunks
}

type mergedSample struct {
	t int64
	v float64
}

func (si *SampleIterator) reset(d *seriesData, mint, maxt int64) {
	*si = SampleIterator{chunks: d.chunks, mint: mint, maxt: maxt, ci: -1, merged: si.merged[:0], mi: -1, isMerged: d.overlap}
	if d.overlap {
		si.materialize()
	}
}

// materialize decodes every chunk and keeps one sample per timestamp (the
// first source's, in chunk order), sorted.
func (si *SampleIterator) materialize() {
	var it chunkstore.Iterator
	for _, c := range si.chunks {
		it.Reset(c.Chunk)
		for it.Next() {
			t, v := it.At()
			if t < si.mint || t > si.maxt || c.Deleted.Contains(t) {
				continue
			}
			si.merged = append(si.merged, mergedSample{t, v})
		}
		if err := it.Err(); err != nil {
			si.err = err
			break
		}
	}
	slices.SortStableFunc(si.merged, func(a, b mergedSample) int { return cmp.Compare(a.t, b.t) })
	si.merged = slices.CompactFunc(si.merged, func(a, b mergedSample) bool { return a.t == b.t })
	si.chunks = nil
	if si.err != nil {
		si.done = true
	}
}

// Next advances to the next sample in range.
func (si *SampleIterator) Next() bool {
	if si.isMerged {
		if si.done || si.mi+1 >= len(si.merged) {
			si.done, si.valid = true, false
			return false
		}
		si.mi++
		si.valid = true
		return true
	}
	return si.advance(si.mint)
}

// SeekTo advances to the first sample at or after t (and in range); it does
// not move backwards: if the current sample is at or after t it stays.
func (si *SampleIterator) SeekTo(t int64) bool {
	if si.valid {
		if ct, _ := si.At(); ct >= t {
			return true
		}
	}
	if si.isMerged {
		for si.Next() {
			if si.merged[si.mi].t >= t {
				return true
			}
		}
		return false
	}
	return si.advance(max(t, si.mint))
}

// advance moves to the next sample with timestamp >= from that is not
// deleted, skipping whole chunks that end before it.
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
			for ok {
				t, _ := si.it.At()
				if !si.chunks[si.ci].Deleted.Contains(t) {
					break
				}
				ok = si.it.Next()
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
		si.it.Reset(si.chunks[si.ci].Chunk)
	}
	return false
}

// At returns the current sample.
func (si *SampleIterator) At() (int64, float64) {
	if si.isMerged {
		if si.mi < 0 || si.mi >= len(si.merged) {
			return 0, 0
		}
		m := si.merged[si.mi]
		return m.t, m.v
	}
	return si.it.At()
}

// Err returns the first decoding error met.
func (si *SampleIterator) Err() error { return si.err }
