package block

import (
	"errors"
	"fmt"
	"slices"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// CompactOptions configure Compact.
type CompactOptions struct {
	// Level of the output block; 0 means max(input levels)+1.
	Level int
	// MaxChunkSamples caps the samples of a chunk Compact re-encodes (where
	// chunks overlap or tombstones cut them); 0 means
	// chunkstore.DefaultSamplesPerChunk. Chunks copied unchanged keep their
	// size.
	MaxChunkSamples int
	// Rechunk, when set, is called once per output series with its final
	// chunks (time-ordered, disjoint) and returns the chunks to write
	// instead, e.g. re-encoded with a long-term encoding or into longer
	// chunks. It must keep every sample and return chunks satisfying
	// Writer.AddSeries. src's Data aliases input mappings or scratch
	// buffers valid only during the call; the returned chunks need only
	// stay valid until Rechunk is called again. dst is a reusable slice.
	Rechunk func(dst []chunkstore.Chunk, lset labels.Labels, src []chunkstore.Chunk) ([]chunkstore.Chunk, error)
	// SharedTimestamps stores timestamps once per group of output series
	// with identical timestamp sequences (docs/format/block.md §Timestamps
	// section): the output is index version 2 and every series of a group
	// is cut into LongTermSamples pieces at the same sample indices, each
	// piece a chunkstore.EncDecimalShared chunk referencing the group's
	// column for that window, or a self-contained EncXOR chunk when that
	// is smaller. Rechunk is not called for group members; series whose
	// timestamps no other series shares go through Rechunk as without
	// the option. It costs one extra pass over the inputs (decoding every
	// chunk once more to hash the timestamps).
	SharedTimestamps bool
	// LongTermSamples is the most samples per chunk of a series in a group
	// (SharedTimestamps only); 0 means chunkstore.DefaultLongTermSamples.
	// Like chunkstore.Reencoder, N samples become ceil(N/LongTermSamples)
	// chunks of nearly equal size.
	LongTermSamples int
	// ConstantSamples, when above LongTermSamples, is the most samples per
	// chunk of a group member whose values are all the same (bit for
	// bit): such a series is one chunk referencing a column of the
	// group's whole sequence instead of one chunk per piece, when it has
	// at most ConstantSamples samples (SharedTimestamps only). Decoding a
	// constant chunk is cheap, so the bound that keeps recent-data reads
	// short (a head cut's 120) need not apply to it; each record and
	// chunk meta it saves costs ~20 bytes. 0 means LongTermSamples.
	ConstantSamples int
	// RangeCoded lets group members' chunks be written as
	// chunkstore.EncDecimalSharedRC (values range-coded) where that is
	// smaller than EncDecimalShared by a margin (SharedTimestamps only;
	// chunkstore.DecimalEncoder.SetRangeCoded). It is meant for the
	// long-term blocks of compaction: a range-coded chunk decodes at
	// fewer samples per second (docs/COMPRESSION.md §Issue 17:
	// range-coded values).
	RangeCoded bool
	// Writer options of the output block (segment size, ULID, logger).
	// Level, Sources, Parents and SharedTimestamps are set by Compact.
	Writer WriterOptions
	// Logger receives one line per compaction; nil means zap.NewNop().
	Logger *zap.Logger
}

// Compact merges blocks into one new block in parent and returns its Meta.
//
// Series are merged in label order (a k-way merge streaming one series at a
// time: memory holds one series' chunk metas and the samples of one group of
// overlapping chunks, plus the output's postings). Per series, chunks of
// different blocks that overlap in time are decoded and merged; samples with
// equal timestamps are de-duplicated, keeping the one from the block that
// comes LAST in blocks. Tombstones of each input are applied. Chunks that
// neither overlap another nor touch a tombstone are copied unchanged (no
// re-encoding); the rest are re-encoded with chunkstore.Appender into
// chunks of at most MaxChunkSamples. Series left without samples are
// dropped.
//
// The output covers the union of the inputs' time ranges, has level
// max(levels)+1 (or o.Level), sources = union of the inputs' sources, and
// the inputs as parents. Compact takes a reference on every input for its
// duration and fails if one is closed; it never deletes the inputs (the
// caller marks them for deletion once the output is in use). On error no
// block is published. A corrupt input chunk fails the compaction with the
// chunk's CorruptionError.
func Compact(parent string, blocks []*Block, o CompactOptions) (Meta, error) {
	if len(blocks) == 0 {
		return Meta{}, errors.New("block: compact: no input blocks")
	}
	for i, b := range blocks {
		if !b.Acquire() {
			for _, b := range blocks[:i] {
				b.Release()
			}
			return Meta{}, fmt.Errorf("block: compact %s: %w", b.dir, ErrClosed)
		}
	}
	defer func() {
		for _, b := range blocks {
			b.Release()
		}
	}()
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.MaxChunkSamples <= 0 {
		o.MaxChunkSamples = chunkstore.DefaultSamplesPerChunk
	}

	mint, maxt := blocks[0].meta.MinTime, blocks[0].meta.MaxTime
	level := 0
	var sources []ulid.ULID
	parents := make([]BlockDesc, 0, len(blocks))
	for _, b := range blocks {
		m := b.meta
		mint, maxt = min(mint, m.MinTime), max(maxt, m.MaxTime)
		level = max(level, m.Compaction.Level)
		sources = append(sources, m.Compaction.Sources...)
		parents = append(parents, BlockDesc{ULID: m.ULID, MinTime: m.MinTime, MaxTime: m.MaxTime})
	}
	slices.SortFunc(sources, ulid.ULID.Compare)
	sources = slices.Compact(sources)
	wo := o.Writer
	wo.Level = o.Level
	if wo.Level == 0 {
		wo.Level = level + 1
	}
	wo.Sources, wo.Parents = sources, parents
	if wo.Logger == nil {
		wo.Logger = o.Logger
	}
	wo.SharedTimestamps = o.SharedTimestamps
	w, err := NewWriter(parent, mint, maxt, wo)
	if err != nil {
		return Meta{}, err
	}
	c := compactor{blocks: blocks, o: o, w: w}
	if o.SharedTimestamps {
		// Pass 1 counts series per timestamp sequence, so that pass 2
		// knows which series share theirs (compact_shared.go).
		c.sh = newSharedState(o)
		c.sh.counting = true
		if err := c.run(); err != nil {
			w.Abort()
			return Meta{}, err
		}
		c.sh.counting = false
	}
	if err := c.run(); err != nil {
		w.Abort()
		return Meta{}, err
	}
	meta, err := w.Finish()
	if err != nil {
		return Meta{}, err
	}
	o.Logger.Info("blocks compacted",
		zap.String("block", meta.ULID.String()),
		zap.Int("inputs", len(blocks)),
		zap.Int("level", meta.Compaction.Level),
		zap.Uint64("series", meta.Stats.NumSeries),
		zap.Uint64("samples", meta.Stats.NumSamples))
	return meta, nil
}

// compactor holds the state and scratch of one Compact call.
type compactor struct {
	blocks []*Block
	o      CompactOptions
	w      *Writer

	cursors []cursor
	group   []sourceChunk // chunks of the current series, all inputs
	out     []chunkstore.Chunk
	rechunk []chunkstore.Chunk
	bufs    [][]byte // payload buffers of re-encoded chunks, reused
	nbuf    int
	samples []sample
	it      chunkstore.Iterator
	app     chunkstore.Appender
	sh      *sharedState // SharedTimestamps only
}

// cursor walks the series of one input in ref order.
type cursor struct {
	it    seriesIter
	lset  labels.Labels
	metas []ChunkMeta
	ok    bool
}

// sourceChunk is one input chunk of the series being merged.
type sourceChunk struct {
	ChunkMeta
	src  int       // index into blocks
	tomb Intervals // the input's tombstones for this series
}

// sample is one decoded sample with the input it came from.
type sample struct {
	t   int64
	v   float64
	src int
}

func (c *compactor) advance(i int) error {
	cur := &c.cursors[i]
	var err error
	cur.lset, cur.metas, cur.ok, err = cur.it.next(cur.metas[:0])
	return err
}

func (c *compactor) run() error {
	c.cursors = make([]cursor, len(c.blocks))
	for i, b := range c.blocks {
		c.cursors[i].it = seriesIter{b: b}
		if err := c.advance(i); err != nil {
			return err
		}
	}
	for {
		// The smallest label set among the cursors is the next series.
		lo := -1
		for i := range c.cursors {
			if c.cursors[i].ok && (lo < 0 || labels.Compare(c.cursors[i].lset, c.cursors[lo].lset) < 0) {
				lo = i
			}
		}
		if lo < 0 {
			return nil
		}
		lset := c.cursors[lo].lset
		c.group = c.group[:0]
		for i := range c.cursors {
			cur := &c.cursors[i]
			if !cur.ok || labels.Compare(cur.lset, lset) != 0 {
				continue
			}
			tomb := c.blocks[i].Tombstones()[cur.it.ref-1]
			for _, m := range cur.metas {
				c.group = append(c.group, sourceChunk{ChunkMeta: m, src: i, tomb: tomb})
			}
		}
		if err := c.series(lset); err != nil {
			return err
		}
		for i := range c.cursors {
			cur := &c.cursors[i]
			if cur.ok && labels.Compare(cur.lset, lset) == 0 {
				if err := c.advance(i); err != nil {
					return err
				}
			}
		}
	}
}

// series merges the chunks in c.group and writes the series.
func (c *compactor) series(lset labels.Labels) error {
	slices.SortStableFunc(c.group, func(a, b sourceChunk) int {
		switch {
		case a.MinT < b.MinT:
			return -1
		case a.MinT > b.MinT:
			return 1
		}
		return a.src - b.src
	})
	c.out = c.out[:0]
	c.nbuf = 0
	for i := 0; i < len(c.group); {
		// A cluster is a maximal run of chunks whose closed time ranges
		// overlap transitively.
		j, end := i+1, c.group[i].MaxT
		for j < len(c.group) && c.group[j].MinT <= end {
			end = max(end, c.group[j].MaxT)
			j++
		}
		cl := c.group[i:j]
		i = j
		if len(cl) == 1 && !cl[0].tomb.Overlaps(cl[0].MinT, cl[0].MaxT) {
			ch, err := c.blocks[cl[0].src].Chunk(cl[0].Ref)
			if err != nil {
				return err
			}
			c.out = append(c.out, ch)
			continue
		}
		if err := c.merge(cl); err != nil {
			return err
		}
	}
	return c.emit(lset, c.out)
}

// emit writes one output series with its final chunks (time-ordered,
// disjoint): counted only in the shared-timestamps pass 1, with the
// group's columns when its timestamps are shared, else through Rechunk.
func (c *compactor) emit(lset labels.Labels, out []chunkstore.Chunk) error {
	if c.sh != nil && len(out) > 0 {
		if c.sh.counting {
			return c.countSeries(out)
		}
		done, err := c.sharedSeries(lset, out)
		if done || err != nil {
			return err
		}
	}
	if c.o.Rechunk != nil && len(out) > 0 {
		var err error
		c.rechunk, err = c.o.Rechunk(c.rechunk[:0], lset, out)
		if err != nil {
			return fmt.Errorf("block: compact: rechunk %s: %w", lset, err)
		}
		out = c.rechunk
	}
	return c.w.AddSeries(lset, out)
}

// merge decodes a cluster, drops deleted samples, de-duplicates equal
// timestamps (the latest input wins) and appends re-encoded chunks to c.out.
func (c *compactor) merge(cl []sourceChunk) error {
	c.samples = c.samples[:0]
	for _, sc := range cl {
		if sc.tomb.Covers(sc.MinT, sc.MaxT) {
			continue
		}
		ch, err := c.blocks[sc.src].Chunk(sc.Ref)
		if err != nil {
			return err
		}
		c.it.Reset(ch)
		for c.it.Next() {
			t, v := c.it.At()
			if len(sc.tomb) > 0 && sc.tomb.Contains(t) {
				continue
			}
			c.samples = append(c.samples, sample{t: t, v: v, src: sc.src})
		}
		if err := c.it.Err(); err != nil {
			b := c.blocks[sc.src]
			return &CorruptionError{Block: b.dir, File: chunksDirname + "/" + segmentName(sc.Ref>>32),
				Offset: int64(uint32(sc.Ref)), Err: err}
		}
	}
	slices.SortStableFunc(c.samples, func(a, b sample) int {
		switch {
		case a.t < b.t:
			return -1
		case a.t > b.t:
			return 1
		}
		return a.src - b.src
	})
	n := 0
	for i, s := range c.samples {
		if i+1 < len(c.samples) && c.samples[i+1].t == s.t {
			continue // a later input has the same timestamp and wins
		}
		c.samples[n] = s
		n++
	}
	c.samples = c.samples[:n]
	for i := 0; i < len(c.samples); i += c.o.MaxChunkSamples {
		part := c.samples[i:min(i+c.o.MaxChunkSamples, len(c.samples))]
		if c.nbuf == len(c.bufs) {
			c.bufs = append(c.bufs, nil)
		}
		c.app.Reset(c.bufs[c.nbuf][:0])
		for _, s := range part {
			c.app.Append(s.t, s.v)
		}
		c.bufs[c.nbuf] = c.app.Bytes()
		c.nbuf++
		c.out = append(c.out, c.app.Chunk())
	}
	return nil
}

// WriteSeries writes a new block in parent covering [mint, maxt) from
// series that the caller streams, with what Compact does to its merged
// series: Rechunk, and with o.SharedTimestamps the long-term encoding with
// timestamps shared by the series that have identical ones
// (docs/format/block.md §Timestamps section). A head cut writes its level-1
// block with it, so that the first block is as dense as a compacted one.
//
// each must call yield once per series, in label order, with the series'
// chunks (time-ordered, disjoint, deletions applied, Data valid during the
// call only), and return yield's error. With SharedTimestamps each is
// called twice and must yield the same series both times: the first pass
// only reads chunk metadata (to count series per timestamp sequence), the
// second writes. Series without chunks are skipped.
//
// o.Level defaults to 1; o.MaxChunkSamples is unused. When no series was
// yielded nothing is published and the returned Meta is zero. On error no
// block is published.
func WriteSeries(parent string, mint, maxt int64, each func(yield func(labels.Labels, []chunkstore.Chunk) error) error, o CompactOptions) (Meta, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	wo := o.Writer
	wo.Level = max(o.Level, 1)
	if wo.Logger == nil {
		wo.Logger = o.Logger
	}
	wo.SharedTimestamps = o.SharedTimestamps
	w, err := NewWriter(parent, mint, maxt, wo)
	if err != nil {
		return Meta{}, err
	}
	c := compactor{o: o, w: w}
	n := 0
	yield := func(lset labels.Labels, chunks []chunkstore.Chunk) error {
		if len(chunks) == 0 {
			return nil
		}
		if c.sh == nil || !c.sh.counting {
			n++
		}
		return c.emit(lset, chunks)
	}
	if o.SharedTimestamps {
		c.sh = newSharedState(o)
		c.sh.counting = true
		if err := each(yield); err != nil {
			w.Abort()
			return Meta{}, err
		}
		c.sh.counting = false
	}
	if err := each(yield); err != nil {
		w.Abort()
		return Meta{}, err
	}
	if c.sh != nil && c.sh.next != len(c.sh.hashes) {
		w.Abort()
		return Meta{}, fmt.Errorf("block: write series: the second pass yielded %d series, the first %d", c.sh.next, len(c.sh.hashes))
	}
	if n == 0 {
		w.Abort()
		return Meta{}, nil
	}
	return w.Finish()
}
