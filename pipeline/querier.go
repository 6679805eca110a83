package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync/atomic"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"golang.org/x/sync/errgroup"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/postings"
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
	// Err, when set, stands for a damaged head chunk covering [MinT, MaxT]
	// (a *shard.HeadChunkError): it has no data; iteration skips it, serves
	// the rest of the series and reports it in Err.
	Err error
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

// SelectHints describe the evaluation that reads a selection, so that the
// read keeps only the chunks some evaluation window needs (the hints of
// Prometheus's storage.SelectHints). Windows are (t-Range, t+Ahead] for t =
// Start, Start+Step, ..., End (one window at Start when Step is 0), all in
// ms; a chunk that no window overlaps is not read. The zero value keeps
// every chunk in the querier's range. Func and Grouping name the function
// and aggregation grouping applied over the selection, for the caller's
// own use (push-down decisions, stats); the read does not interpret them.
type SelectHints struct {
	Start, End, Step int64
	Range, Ahead     int64
	Func             string
	Grouping         []string
	By               bool
	// StaleOnly says the caller reads only timestamps and whether each
	// sample is a stale marker (count, group, presence): the iterators
	// then return every timestamp and stale marker exactly and an
	// unspecified value (0 or the sample's) for every other sample, and
	// decimal chunks skip decoding their values
	// (chunkstore.Iterator.SetStaleOnly).
	StaleOnly bool
}

// needs reports whether a sample in [mint, maxt] falls in some window. A
// sample s is in window t when s-Ahead <= t < s+Range: the chunk is needed
// when some step lies in [mint-Ahead, maxt+Range-1].
func (h *SelectHints) needs(mint, maxt int64) bool {
	if h == nil || (h.Start == 0 && h.End == 0 && h.Step == 0 && h.Range == 0 && h.Ahead == 0) {
		return true
	}
	lo, hi := mint-h.Ahead, maxt+h.Range-1
	if h.Step <= 0 {
		return h.Start >= lo && h.Start <= hi
	}
	if hi < h.Start || lo > h.End {
		return false
	}
	t := h.Start
	if lo > t {
		t += (lo - t + h.Step - 1) / h.Step * h.Step
	}
	return t <= hi && t <= h.End
}

// Select returns the series matching ms, sorted by labels, fanned out to
// every shard concurrently and fanned back in. Within a shard the head and
// every block overlapping the range are read and merged by series.
// Matchers follow Prometheus semantics; at least one must not match the
// empty string. The head is read on the shard goroutine in pieces of
// headPieceSeries series, one View each, with a context check between
// them, so a large select delays that shard's appends by one piece at a
// time, not by the whole read.
func (q *Querier) Select(ctx context.Context, ms ...*labels.Matcher) (*SeriesSet, error) {
	return q.SelectHinted(ctx, nil, ms...)
}

// SelectHinted is Select reading only the chunks the windows of h need
// (nil: all of them).
func (q *Querier) SelectHinted(ctx context.Context, h *SelectHints, ms ...*labels.Matcher) (*SeriesSet, error) {
	parts := make([][]seriesData, len(q.db.shards))
	err := q.fanSelect(ctx, h, ms, func(i int, series []seriesData) error {
		parts[i] = series
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &SeriesSet{series: mergeSorted(parts, false), mint: q.mint, maxt: q.maxt, q: q, ctx: ctx, staleOnly: h != nil && h.StaleOnly}, nil
}

// SelectShards is the push-down point of the read path: it selects like
// SelectHinted but does not fan the shards' series back in. Instead it
// calls fn with each shard's series set (sorted by labels; shards hold
// disjoint series) on that shard's fan-out goroutine, as soon as that
// shard's head and blocks are read, so the caller evaluates functions and
// partial aggregates over one shard's chunks in place while the other
// shards still read. Calls for different shards run concurrently (the
// shard index tells them apart); fn must bound its own CPU use (it runs
// off the shard goroutines, which keep serving appends). A set is valid
// until the querier is closed. The first error of fn or of a read is
// returned.
func (q *Querier) SelectShards(ctx context.Context, h *SelectHints, fn func(shard int, ss *SeriesSet) error, ms ...*labels.Matcher) error {
	return q.fanSelect(ctx, h, ms, func(i int, series []seriesData) error {
		return fn(i, &SeriesSet{series: series, mint: q.mint, maxt: q.maxt, q: q, ctx: ctx, staleOnly: h != nil && h.StaleOnly})
	})
}

// NumShards returns the number of shards a selection fans out to.
func (q *Querier) NumShards() int { return len(q.db.shards) }

// fanSelect reads every shard concurrently and calls each with that
// shard's series, merged over head and blocks and sorted by labels, on the
// shard's fan-out goroutine.
func (q *Querier) fanSelect(ctx context.Context, h *SelectHints, ms []*labels.Matcher, each func(int, []seriesData) error) error {
	if q.closed {
		return fmt.Errorf("select on a closed querier")
	}
	n := len(q.db.shards)
	refs := make([][]*shard.FileRefs, n)
	blocks := make([][]*block.Block, n)
	var g errgroup.Group
	for i, s := range q.db.shards {
		g.Go(func() error {
			var head []seriesData
			var err error
			head, blocks[i], refs[i], err = q.selectShardHead(ctx, s, h, ms)
			if err != nil {
				return fmt.Errorf("shard %d: %w", i, err)
			}
			// Everything below runs on this goroutine, off the shard's.
			slices.SortFunc(head, func(a, b seriesData) int { return labels.Compare(a.lset, b.lset) })
			srcs := [][]seriesData{head}
			for _, b := range blocks[i] {
				if err := ctx.Err(); err != nil {
					return err
				}
				bs, err := q.selectBlock(b, h, ms)
				if err != nil {
					return fmt.Errorf("shard %d: %w", i, err)
				}
				srcs = append(srcs, bs)
			}
			var series []seriesData
			if len(srcs) == 1 {
				series = srcs[0]
			} else {
				series = mergeSorted(srcs, true)
			}
			return each(i, series)
		})
	}
	err := g.Wait()
	for i := range n {
		q.refs = append(q.refs, refs[i]...)
		q.blocks = append(q.blocks, blocks[i]...)
	}
	return err
}

// headPieceSeries is how many head series one View of a Select reads: about
// a millisecond of the shard goroutine's time (BenchmarkAppendDuringSelect).
const headPieceSeries = 512

// maxSelectRestarts bounds how often a piecewise head read starts again
// after a head cut or GC changed the head under it; the last attempt reads
// the head in one View, which nothing can interleave.
const maxSelectRestarts = 3

// selectRestarts counts piecewise head reads started again (for tests).
var selectRestarts atomic.Int64

// testBetweenPieces, when set by a test, runs before each head piece's View.
var testBetweenPieces func()

// selectShardHead reads one shard's matching head series and takes the
// shard's blocks overlapping the range, with file references for the
// mapped closed chunks. The head is read in pieces (one View each, with a
// context check before each); when the shard's ReadGen changes between
// pieces (a head cut published a block, or GC freed refs) everything is
// released and the read starts again, so the result is the head and the
// blocks of one generation.
func (q *Querier) selectShardHead(ctx context.Context, s *shard.Shard, h *SelectHints, ms []*labels.Matcher) ([]seriesData, []*block.Block, []*shard.FileRefs, error) {
	for attempt := 0; ; attempt++ {
		piece := headPieceSeries
		if attempt == maxSelectRestarts {
			piece = math.MaxInt
		}
		var (
			out    []seriesData
			blocks []*block.Block
			refs   []*shard.FileRefs
			gen    shard.ReadGen
			it     roaring.IntPeekable
			done   bool
		)
		release := func() {
			for _, r := range refs {
				r.Release()
			}
			for _, b := range blocks {
				b.Release()
			}
		}
		err := s.View(ctx, func(v *shard.View) error {
			blocks = v.Blocks(nil, q.mint, q.maxt)
			gen = v.ReadGen()
			if hmin, hmax := v.Bounds(); hmin > q.maxt || hmax < q.mint || v.HeadMinTime() > q.maxt {
				done = true
				return nil
			}
			bm, err := v.Postings(ms...)
			if err != nil {
				return err
			}
			it = bm.Iterator()
			return nil
		})
		restart := false
		for err == nil && !done && !restart && it.HasNext() {
			if err = ctx.Err(); err != nil {
				break
			}
			if testBetweenPieces != nil {
				testBetweenPieces()
			}
			err = s.View(ctx, func(v *shard.View) error {
				if v.ReadGen() != gen {
					restart = true
					return nil
				}
				files := v.AcquireFiles()
				refs = append(refs, files)
				var perr error
				out, perr = q.headPiece(v, it, piece, h, out)
				return perr
			})
		}
		if err != nil {
			release()
			return nil, nil, nil, err
		}
		if restart {
			release()
			selectRestarts.Add(1)
			continue
		}
		return out, blocks, refs, nil
	}
}

// headPiece collects up to n series from it on the shard goroutine: mapped
// closed chunks (the caller holds file references) and copies of open
// chunks. A ref in the postings without a series is an error: the index and
// the series table disagree, and the read would be silently incomplete.
func (q *Querier) headPiece(v *shard.View, it roaring.IntPeekable, n int, h *SelectHints, out []seriesData) ([]seriesData, error) {
	var arena []byte
	var chunks []chunkstore.Chunk
	var err error
	for k := 0; k < n && it.HasNext(); k++ {
		ref := it.Next()
		lset, ok := v.Labels(ref)
		if !ok {
			return out, fmt.Errorf("head postings name series ref %d, which does not exist", ref)
		}
		chunks, arena, err = v.Chunks(chunks[:0], arena, ref, q.mint, q.maxt)
		var damaged *shard.HeadChunkError
		if err != nil && !errors.As(err, &damaged) {
			return out, err
		}
		if len(chunks) == 0 && damaged == nil {
			continue
		}
		del := v.Deleted(ref)
		sc := make([]SeriesChunk, 0, len(chunks)+1)
		if damaged != nil {
			// Only this part of the series fails; its other head chunks
			// and its block data are served (SampleIterator.Err reports it).
			sc = append(sc, SeriesChunk{Chunk: chunkstore.Chunk{MinT: damaged.MinT, MaxT: damaged.MaxT}, Err: damaged})
		}
		for _, c := range chunks {
			if !del.Covers(c.MinT, c.MaxT) && h.needs(c.MinT, c.MaxT) {
				sc = append(sc, SeriesChunk{Chunk: c, Deleted: del})
			}
		}
		if len(sc) == 0 {
			continue // every sample in range is deleted: no series, as in Prometheus
		}
		// Late samples (the shard's out-of-order head) come as chunks that
		// may overlap the others; View.Chunks sorts them by MinT.
		overlap := false
		for k := 1; k < len(sc); k++ {
			if sc[k].MinT <= sc[k-1].MaxT {
				overlap = true
			}
		}
		out = append(out, seriesData{lset: lset, chunks: sc, overlap: overlap})
	}
	return out, nil
}

// selectBlock reads a block's matching series (already in label order, the
// order of block refs). The block is acquired by the caller.
func (q *Querier) selectBlock(b *block.Block, h *SelectHints, ms []*labels.Matcher) ([]seriesData, error) {
	bm, err := b.Postings(ms...)
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", b.Meta().ULID, err)
	}
	tombs := b.Tombstones()
	var out []seriesData
	var metas []block.ChunkMeta
	// Every series' chunks go into one array (all, ends[k] the end of
	// out[k]'s): a list per series was an allocation per series and
	// block, most of a wide select's allocations.
	var all []SeriesChunk
	var ends []int
	it := bm.Iterator()
	for it.HasNext() {
		ref := it.Next()
		var lset labels.Labels
		lset, metas, err = b.Series(ref, metas[:0])
		if err != nil {
			return nil, fmt.Errorf("block %s series %d: %w", b.Meta().ULID, ref, err)
		}
		del := tombs[ref]
		n := len(all)
		for _, m := range metas {
			if m.MaxT < q.mint || m.MinT > q.maxt || del.Covers(m.MinT, m.MaxT) || !h.needs(m.MinT, m.MaxT) {
				continue
			}
			c, err := b.Chunk(m.Ref)
			if err != nil {
				return nil, fmt.Errorf("series %s: %w", lset, err)
			}
			if all == nil {
				all = make([]SeriesChunk, 0, int(bm.GetCardinality())*len(metas))
			}
			all = append(all, SeriesChunk{Chunk: c, Deleted: del})
		}
		if len(all) > n {
			out = append(out, seriesData{lset: lset})
			ends = append(ends, len(all))
		}
	}
	start := 0
	for k, e := range ends {
		out[k].chunks = all[start:e:e]
		start = e
	}
	return out, nil
}

// mergeSorted merges lists sorted by labels. With combine, entries with
// equal labels (one series in several sources of a shard) are combined into
// one with their chunks ordered by time; without it the lists are disjoint
// (shards hold disjoint series).
func mergeSorted(parts [][]seriesData, combine bool) []seriesData {
	n, nc := 0, 0
	for _, p := range parts {
		n += len(p)
		if combine {
			for k := range p {
				nc += len(p[k].chunks)
			}
		}
	}
	out := make([]seriesData, 0, n)
	idx := make([]int, len(parts))
	// With combine every series' chunk list is a run of one array sized
	// for all of them (arena; it never grows, so the runs stay valid):
	// a series' pieces come one after the other in the merge, so the
	// last series' run is arena[start:]. It is sorted and checked for
	// overlaps once, when the next series starts (a series read from the
	// head and a dozen blocks had its own list regrown per piece: 17 % of
	// a query profile and five allocations per series).
	var arena []SeriesChunk
	if combine {
		arena = make([]SeriesChunk, 0, nc)
	}
	start, first, merged := 0, 0, false
	var tmp []SeriesChunk
	byMinT := func(a, b SeriesChunk) int { return cmp.Compare(a.MinT, b.MinT) }
	finish := func() {
		if !merged {
			return
		}
		last := &out[len(out)-1]
		run := last.chunks
		// The common case, head first and blocks in time order after it:
		// both pieces sorted and every later chunk before the first
		// piece's first. The stable sort's result is then the rotation
		// (ties cannot occur), done in one pass instead of an insertion
		// sort that moves every block chunk past every head chunk.
		head, rest := run[:first], run[first:]
		switch {
		case slices.IsSortedFunc(run, byMinT):
		case len(rest) > 0 && rest[len(rest)-1].MinT < head[0].MinT &&
			slices.IsSortedFunc(head, byMinT) && slices.IsSortedFunc(rest, byMinT):
			tmp = append(tmp[:0], head...)
			copy(run, rest)
			copy(run[len(rest):], tmp)
			clear(tmp) // no references kept past the merge
		default:
			slices.SortStableFunc(run, byMinT)
		}
		last.overlap = false
		for k := 1; k < len(last.chunks); k++ {
			if last.chunks[k].MinT <= last.chunks[k-1].MaxT {
				last.overlap = true
				break
			}
		}
	}
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
			finish()
			return out
		}
		cur := parts[best][idx[best]]
		idx[best]++
		if combine && len(out) > 0 && labels.Equal(out[len(out)-1].lset, cur.lset) {
			arena = append(arena, cur.chunks...)
			out[len(out)-1].chunks = arena[start:len(arena):len(arena)]
			merged = true
			continue
		}
		finish()
		merged, first = false, len(cur.chunks)
		if combine {
			start = len(arena)
			arena = append(arena, cur.chunks...)
			cur.chunks = arena[start:len(arena):len(arena)]
		}
		out = append(out, cur)
	}
}

// LabelNames returns the sorted, distinct label names of the series
// matching ms (all series when ms is empty), from the head and every block
// that overlap the querier's range (as Prometheus's /api/v1/labels: a
// source is read when its time range overlaps, whole).
func (q *Querier) LabelNames(ctx context.Context, ms ...*labels.Matcher) ([]string, error) {
	return q.fanStrings(ctx,
		func(v *shard.View) ([]string, error) { return v.LabelNames(ms...) },
		func(b *block.Block) ([]string, error) { return b.LabelNames(ms...) })
}

// LabelValues returns the sorted, distinct values of label name over the
// series matching ms (all series when ms is empty), from the head and
// every block that overlap the querier's range.
func (q *Querier) LabelValues(ctx context.Context, name string, ms ...*labels.Matcher) ([]string, error) {
	return q.fanStrings(ctx,
		func(v *shard.View) ([]string, error) { return v.LabelValues(name, ms...) },
		func(b *block.Block) ([]string, error) { return b.LabelValues(name, ms...) })
}

// fanStrings runs headFn on every shard's head that overlaps the range (on
// the shard goroutine) and blockFn on every block that does (off it), and
// returns the sorted union.
func (q *Querier) fanStrings(ctx context.Context, headFn func(*shard.View) ([]string, error), blockFn func(*block.Block) ([]string, error)) ([]string, error) {
	if q.closed {
		return nil, fmt.Errorf("label query on a closed querier")
	}
	parts := make([][]string, len(q.db.shards))
	var g errgroup.Group
	for i, s := range q.db.shards {
		g.Go(func() error {
			var blocks []*block.Block
			defer func() {
				for _, b := range blocks {
					b.Release()
				}
			}()
			err := s.View(ctx, func(v *shard.View) error {
				blocks = v.Blocks(nil, q.mint, q.maxt)
				if !q.headOverlaps(v) {
					return nil
				}
				var err error
				parts[i], err = headFn(v)
				return err
			})
			if err != nil {
				return fmt.Errorf("shard %d: %w", i, err)
			}
			for _, b := range blocks {
				vals, err := blockFn(b)
				if err != nil {
					return fmt.Errorf("shard %d block %s: %w", i, b.Meta().ULID, err)
				}
				parts[i] = append(parts[i], vals...)
			}
			return nil
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

// headOverlaps reports whether the head holds queryable samples in the
// querier's range.
func (q *Querier) headOverlaps(v *shard.View) bool {
	hmin, hmax := v.Bounds()
	return hmin <= hmax && hmin <= q.maxt && hmax >= q.mint && v.HeadMinTime() <= q.maxt
}

// Stats returns cardinality statistics (top-N lists of at most topN
// entries) of the series that have samples in the querier's range, in the
// head or in blocks, after deletions: exactly the series Select with
// {__name__=~".+"} returns, counted once each however many blocks hold
// them. It reads what that Select reads; it is an operator's call, not a
// hot path.
func (q *Querier) Stats(ctx context.Context, topN int) (postings.Stats, error) {
	ss, err := q.Select(ctx, labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+"))
	if err != nil {
		return postings.Stats{}, err
	}
	ix := postings.NewIndex()
	for i := range ss.series {
		ix.Add(uint32(i+1), ss.series[i].lset)
	}
	return ix.Stats(topN), nil
}

// SeriesSet iterates selected series in label order. Owned by one goroutine.
type SeriesSet struct {
	series     []seriesData
	mint, maxt int64
	i          int
	cur        Series
	q          *Querier        // its chunks alias memory the querier holds
	ctx        context.Context // the Select's: iteration stops when it ends
	err        error
	staleOnly  bool // SelectHints.StaleOnly
}

// seriesCtxCheck is how often (in series) Next checks the context.
const seriesCtxCheck = 256

// Next advances to the next series. It stops with Err set when the
// querier was closed (the chunks would alias released memory) or the
// Select's context ended.
func (ss *SeriesSet) Next() bool {
	if ss.err != nil || ss.i >= len(ss.series) {
		return false
	}
	if ss.q != nil && ss.q.closed {
		ss.err = errors.New("series set used after its querier was closed")
		return false
	}
	if ss.ctx != nil && ss.i%seriesCtxCheck == 0 {
		if err := ss.ctx.Err(); err != nil {
			ss.err = err
			return false
		}
	}
	ss.cur = Series{data: &ss.series[ss.i], mint: ss.mint, maxt: ss.maxt, staleOnly: ss.staleOnly}
	ss.i++
	return true
}

// At returns the current series; valid until the next call to Next.
func (ss *SeriesSet) At() *Series { return &ss.cur }

// Err returns why Next stopped early: the querier was closed, or the
// Select's context ended (nil after a complete iteration). Errors reading
// the data are returned by Select itself, and decoding errors by each
// SampleIterator.
func (ss *SeriesSet) Err() error { return ss.err }

// Len returns the number of series in the set.
func (ss *SeriesSet) Len() int { return len(ss.series) }

// Series is one selected series.
type Series struct {
	data       *seriesData
	mint, maxt int64
	staleOnly  bool // SelectHints.StaleOnly
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
	reuse.it.SetStaleOnly(s.staleOnly) // before reset, which may decode
	reuse.staleOnly = s.staleOnly
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
	damaged    error // the first damaged chunk skipped (SeriesChunk.Err)
	// merged holds the de-duplicated samples of overlapping chunks; used
	// instead of chunks when the series overlaps (rare: after a crash in
	// compaction or a backfill).
	merged   []mergedSample
	mi       int
	isMerged bool // iterate merged instead of chunks
	// pend: At holds a sample Fill has not returned yet.
	pend bool
	// staleOnly: SelectHints.StaleOnly. col is then, while the current
	// chunk is a shared-column chunk holding no NaN, its timestamp
	// column, iterated in place of the chunk (whose values are never
	// decoded: every value reads 0); coli is the current sample's index.
	staleOnly bool
	col       []int64
	coli      int
}

type mergedSample struct {
	t int64
	v float64
}

func (si *SampleIterator) reset(d *seriesData, mint, maxt int64) {
	// The chunk iterator is kept: it holds the decode buffers of
	// decimal chunks, which a fresh one would allocate again for every
	// series (Reset positions it on the next chunk; ci == -1 keeps it
	// unused until then).
	it := si.it
	*si = SampleIterator{chunks: d.chunks, mint: mint, maxt: maxt, ci: -1, it: it, merged: si.merged[:0], mi: -1, isMerged: d.overlap, staleOnly: si.staleOnly}
	if d.overlap {
		si.materialize()
	}
}

// materialize decodes every chunk and keeps one sample per timestamp (the
// first source's, in chunk order), sorted.
func (si *SampleIterator) materialize() {
	it := &si.it
	for _, c := range si.chunks {
		if c.Err != nil {
			if si.damaged == nil {
				si.damaged = c.Err
			}
			continue
		}
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
		if si.col != nil {
			i := si.coli + 1
			if i < len(si.col) && si.col[i] < from {
				i += firstAtOrAfter(si.col[i:], from)
			}
			if del := si.chunks[si.ci].Deleted; len(del) > 0 {
				for i < len(si.col) && del.Contains(si.col[i]) {
					i++
				}
			}
			if i < len(si.col) {
				si.coli = i
				if si.col[i] > si.maxt {
					si.done = true
					return false
				}
				si.valid = true
				return true
			}
			si.col = nil
		} else if si.ci >= 0 {
			ok := si.it.Next()
			if ok {
				if t, _ := si.it.At(); t < from {
					ok = si.it.SeekTo(from)
				}
			}
			if del := si.chunks[si.ci].Deleted; len(del) > 0 {
				for ok {
					t, _ := si.it.At()
					if !del.Contains(t) {
						break
					}
					ok = si.it.Next()
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
		// A damaged head chunk (SeriesChunk.Err) in range is skipped and
		// reported by Err; the rest of the series is served.
		for si.ci < len(si.chunks) && si.chunks[si.ci].Err != nil && si.chunks[si.ci].MinT <= si.maxt {
			if si.damaged == nil {
				si.damaged = si.chunks[si.ci].Err
			}
			si.ci++
			for si.ci < len(si.chunks) && si.chunks[si.ci].MaxT < from {
				si.ci++
			}
		}
		if si.ci >= len(si.chunks) || si.chunks[si.ci].MinT > si.maxt {
			si.done = true
			return false
		}
		// In stale-only mode a shared-column chunk holding no NaN is not
		// decoded at all: its column is its timestamps, and it holds no
		// stale marker (chunkstore.HoldsNoNaN).
		if c := si.chunks[si.ci].Chunk; si.staleOnly && c.Enc == chunkstore.EncDecimalShared && len(c.Timestamps) == c.NumSamples &&
			c.NumSamples > 0 && c.Timestamps[0] == c.MinT && c.Timestamps[c.NumSamples-1] == c.MaxT && chunkstore.HoldsNoNaN(c) {
			si.col, si.coli = c.Timestamps, -1
			continue
		}
		// Samples before from are not needed: a long decimal chunk then
		// converts only its values from there on.
		si.it.ResetFrom(si.chunks[si.ci].Chunk, from)
	}
	return false
}

// Fill appends to ts and fs, in order, the samples in [from, to] that
// follow those it returned before, skipping samples before from and, with
// dropStale, stale markers; it keeps the first sample after to for the
// next call. It is how range functions fill their windows: from decoded
// (decimal) chunks without deletions it copies whole runs from the
// chunk's columns in place of sample-by-sample iteration. Successive calls
// must not decrease from; an iterator is used either with Fill or with
// Next/SeekTo, not both.
func (si *SampleIterator) Fill(ts []int64, fs []float64, from, to int64, dropStale bool) ([]int64, []float64) {
	for {
		if !si.pend {
			if !si.nextFrom(from) {
				return ts, fs
			}
			si.pend = true
		}
		t, f := si.At()
		if t < from {
			si.pend = false
			continue
		}
		if t > to {
			return ts, fs
		}
		si.pend = false
		if !dropStale || !value.IsStaleNaN(f) {
			ts, fs = append(ts, t), append(fs, f)
		}
		if si.isMerged || si.ci < 0 || len(si.chunks[si.ci].Deleted) > 0 || si.col != nil {
			continue
		}
		dts, dvs := si.it.Decoded()
		if len(dts) == 0 {
			continue
		}
		lim := min(to, si.maxt)
		k := sort.Search(len(dts), func(i int) bool { return dts[i] > lim })
		ts, fs = appendColumns(ts, fs, dts[:k], dvs[:k], dropStale)
		si.it.Skip(k)
	}
}

// SkipTo moves forward to the last sample at or before t among the
// current sample and the decoded samples after it in the current chunk,
// and returns the current sample then; the caller checks the next sample
// with Next. It is how an instant selector finds the sample in effect at a
// step without iterating the samples before it one by one. The current
// sample must be valid (Next or SeekTo returned true) and at or before t;
// an iterator used with Fill must not use it.
func (si *SampleIterator) SkipTo(t int64) (int64, float64) {
	if si.col != nil && si.valid && len(si.chunks[si.ci].Deleted) == 0 {
		lim := min(t, si.maxt)
		rest := si.col[si.coli+1:]
		si.coli += sort.Search(len(rest), func(i int) bool { return rest[i] > lim })
		return si.At()
	}
	if !si.isMerged && si.valid && si.ci >= 0 && len(si.chunks[si.ci].Deleted) == 0 {
		if dts, _ := si.it.Decoded(); len(dts) > 0 && dts[0] <= t {
			lim := min(t, si.maxt)
			k := sort.Search(len(dts), func(i int) bool { return dts[i] > lim })
			si.it.Skip(k)
		}
	}
	return si.At()
}

// appendColumns appends the samples of the decoded columns dts and dvs
// (float64 bits) to ts and fs, without the stale markers when dropStale:
// runs between stale markers are copied whole (memmove), the float64 bits
// reinterpreted in place, instead of sample by sample.
func appendColumns(ts []int64, fs []float64, dts []int64, dvs []uint64, dropStale bool) ([]int64, []float64) {
	vf := unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(dvs))), len(dvs))
	if !dropStale {
		return append(ts, dts...), append(fs, vf...)
	}
	a := 0
	for i, u := range dvs {
		if u == value.StaleNaN {
			ts, fs = append(ts, dts[a:i]...), append(fs, vf[a:i]...)
			a = i + 1
		}
	}
	return append(ts, dts[a:]...), append(fs, vf[a:]...)
}

// nextFrom moves to the next sample at or after from (in range).
func (si *SampleIterator) nextFrom(from int64) bool {
	if si.isMerged {
		for si.Next() {
			if si.merged[si.mi].t >= from {
				return true
			}
		}
		return false
	}
	return si.advance(max(from, si.mint))
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
	if si.col != nil {
		return si.col[si.coli], 0
	}
	return si.it.At()
}

// firstAtOrAfter returns the index of the first of the ascending ts at or
// after from (len(ts) when none is).
func firstAtOrAfter(ts []int64, from int64) int {
	if len(ts) == 0 || ts[0] >= from {
		return 0
	}
	return sort.Search(len(ts), func(i int) bool { return ts[i] >= from })
}

// Err returns the first decoding error met, else the first damaged head
// chunk skipped (a *shard.HeadChunkError: the rest of the series was
// served).
func (si *SampleIterator) Err() error {
	if si.err != nil {
		return si.err
	}
	return si.damaged
}
