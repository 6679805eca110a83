package block

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// Shared timestamps at compaction (docs/format/block.md §Timestamps
// section).
//
// Pass 1 runs the whole merge without writing and hashes each output
// series' complete timestamp sequence (xxhash64 of the int64s), counting
// series per hash and remembering the hash of series k. Pass 2 merges
// again: a series whose hash counts one stays self-contained (Rechunk as
// before); otherwise it joins the group with exactly its timestamps (hash
// equality is not trusted: the sequences are compared) or founds one,
// which writes the group's columns, one per piece. Pieces depend only on
// the sample count, so every member of a group is cut at the same indices
// and each piece's values reference the same column.
//
// Memory: 8 bytes per series (hashes), a map entry per distinct sequence,
// the columns themselves (in the writer), and decoded sequences of groups
// up to sharedKeepSamples for the exact comparison; beyond that a group's
// sequence is re-decoded from its columns when a candidate member arrives.
type sharedState struct {
	counting bool
	max      int // samples per piece
	constMax int // samples per chunk of a constant member (CompactOptions.ConstantSamples)

	hashes []uint64         // pass 1: hash of series k, in output order
	counts map[uint64]int32 // pass 1: series per hash
	next   int              // pass 2: index into hashes

	groups map[uint64][]*tsGroup
	kept   int // samples of decoded sequences held by groups

	enc   chunkstore.DecimalEncoder
	app   chunkstore.Appender
	it    chunkstore.Iterator
	ts    []int64
	vs    []float64
	cmp   []int64
	hbuf  []byte
	cbuf  []byte // column payload scratch
	xb    []byte // XOR candidate payload
	vb    []byte // shared candidate payload
	arena []byte // payloads of the current series' output chunks
	lens  []int
	out   []chunkstore.Chunk
}

// tsGroup is a set of output series with one timestamp sequence.
type tsGroup struct {
	n     int      // samples
	ts    []int64  // the sequence, or nil when over sharedKeepSamples
	cols  []uint64 // column reference of each piece
	whole uint64   // column of the whole sequence, for constant members; 0: none yet
	// hasWhole tells whether whole is set (column 0 is a valid reference).
	hasWhole bool
}

// sharedKeepSamples bounds the decoded sequences groups keep for the exact
// comparison (8 bytes each: 64 MiB); a 12 h block of 15 s scrapes keeps
// 2,880 per scrape target, so ~2,900 targets fit before re-decoding starts.
const sharedKeepSamples = 8 << 20

func newSharedState(o CompactOptions) *sharedState {
	maxSamples := o.LongTermSamples
	if maxSamples <= 0 {
		maxSamples = chunkstore.DefaultLongTermSamples
	}
	maxSamples = min(maxSamples, chunkstore.MaxDecimalSamples)
	sh := &sharedState{
		max:      maxSamples,
		constMax: min(max(o.ConstantSamples, maxSamples), chunkstore.MaxDecimalSamples),
		counts:   make(map[uint64]int32),
		groups:   make(map[uint64][]*tsGroup),
	}
	sh.enc.SetRangeCoded(o.RangeCoded)
	return sh
}

// decodeSeries fills c.sh.ts and c.sh.vs with the samples of chunks.
func (c *compactor) decodeSeries(chunks []chunkstore.Chunk) error {
	sh := c.sh
	sh.ts, sh.vs = sh.ts[:0], sh.vs[:0]
	for _, ch := range chunks {
		it := ch.Iterator(&sh.it)
		for it.Next() {
			t, v := it.At()
			sh.ts = append(sh.ts, t)
			sh.vs = append(sh.vs, v)
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("block: compact: decode merged chunk: %w", err)
		}
	}
	return nil
}

// countSeries is pass 1 for one output series. It keys the series by its
// first and last timestamp and sample count, read from the chunk metadata:
// series with identical timestamps always share that key, and pass 2
// compares timestamps exactly (tsGroupOf), so a key shared by different
// sequences only costs an extra group. Hashing the decoded timestamps
// instead decoded every series twice (about a sixth of compaction time).
func (c *compactor) countSeries(out []chunkstore.Chunk) error {
	var n uint64
	for _, ch := range out {
		n += uint64(ch.NumSamples)
	}
	sh := c.sh
	sh.hbuf = binary.LittleEndian.AppendUint64(sh.hbuf[:0], uint64(out[0].MinT))
	sh.hbuf = binary.LittleEndian.AppendUint64(sh.hbuf, uint64(out[len(out)-1].MaxT))
	sh.hbuf = binary.LittleEndian.AppendUint64(sh.hbuf, n)
	h := xxhash.Sum64(sh.hbuf)
	sh.hashes = append(sh.hashes, h)
	sh.counts[h]++
	return nil
}

// sharedSeries is pass 2 for one output series: it writes the series with
// shared timestamps and reports true, or reports false when no other
// series has its timestamps.
func (c *compactor) sharedSeries(lset labels.Labels, out []chunkstore.Chunk) (bool, error) {
	sh := c.sh
	if sh.next >= len(sh.hashes) {
		return false, fmt.Errorf("BUG: block: compact: pass 2 has more series than pass 1 (%d)", len(sh.hashes))
	}
	h := sh.hashes[sh.next]
	sh.next++
	if sh.counts[h] < 2 {
		return false, nil
	}
	if err := c.decodeSeries(out); err != nil {
		return false, err
	}
	g, err := c.tsGroupOf(h)
	if err != nil {
		return false, err
	}
	n := len(sh.ts)
	pieces := len(g.cols)
	sh.out, sh.arena, sh.lens = sh.out[:0], sh.arena[:0], sh.lens[:0]
	if pieces > 1 && n <= sh.constMax && constantBits(sh.vs) {
		ok, err := c.constantSeries(lset, g)
		if ok || err != nil {
			return ok, err
		}
	}
	for p := range pieces {
		lo, hi := p*n/pieces, (p+1)*n/pieces
		ts, vs := sh.ts[lo:hi], sh.vs[lo:hi]
		// The values-only chunk carries no timestamps (the group's column
		// does), so when it can be made it is nearly always the smaller;
		// only when it cannot (too many non-decimal values) is the
		// self-contained XOR chunk built. Encoding XOR for every piece
		// just to compare cost ~17 % of compaction time.
		vc, ok, err := sh.enc.EncodeShared(sh.vb, g.cols[p], ts, vs)
		if err != nil {
			return false, fmt.Errorf("block: compact: %w", err)
		}
		var ch chunkstore.Chunk
		if ok {
			sh.vb = vc.Data
			ch = vc
		} else {
			sh.app.Reset(sh.xb[:0])
			for i := range ts {
				sh.app.Append(ts[i], vs[i])
			}
			ch = sh.app.Chunk()
			sh.xb = ch.Data
		}
		sh.arena = append(sh.arena, ch.Data...)
		sh.lens = append(sh.lens, len(ch.Data))
		ch.Data = nil
		sh.out = append(sh.out, ch)
	}
	off := 0
	for i, l := range sh.lens {
		sh.out[i].Data = sh.arena[off : off+l : off+l]
		off += l
	}
	return true, c.w.AddSeries(lset, sh.out)
}

// constantSeries writes the series in sh.ts and sh.vs, whose values are
// all equal, as one chunk referencing the group's whole-sequence column
// (written on first use). It reports false, writing nothing, when the
// values cannot be a values-only chunk.
func (c *compactor) constantSeries(lset labels.Labels, g *tsGroup) (bool, error) {
	sh := c.sh
	if !g.hasWhole {
		tc, err := sh.enc.EncodeTimestamps(sh.cbuf, sh.ts)
		if err != nil {
			return false, fmt.Errorf("block: compact: %w", err)
		}
		sh.cbuf = tc.Data
		if g.whole, err = c.w.AddTimestamps(tc); err != nil {
			return false, err
		}
		g.hasWhole = true
	}
	vc, ok, err := sh.enc.EncodeShared(sh.vb, g.whole, sh.ts, sh.vs)
	if err != nil {
		return false, fmt.Errorf("block: compact: %w", err)
	}
	if !ok {
		return false, nil
	}
	sh.vb = vc.Data
	sh.out = append(sh.out, vc)
	return true, c.w.AddSeries(lset, sh.out)
}

// constantBits reports whether every value of vs has the bits of vs[0].
func constantBits(vs []float64) bool {
	for _, v := range vs {
		if math.Float64bits(v) != math.Float64bits(vs[0]) {
			return false
		}
	}
	return true
}

// tsGroupOf returns the group holding exactly sh.ts, founding it (and writing
// its columns) when there is none.
func (c *compactor) tsGroupOf(h uint64) (*tsGroup, error) {
	sh := c.sh
	for _, g := range sh.groups[h] {
		if g.n != len(sh.ts) {
			continue
		}
		seq := g.ts
		if seq == nil {
			var err error
			if seq, err = c.decodeGroup(g); err != nil {
				return nil, err
			}
		}
		if slices.Equal(seq, sh.ts) {
			return g, nil
		}
	}
	n := len(sh.ts)
	pieces := (n + sh.max - 1) / sh.max
	g := &tsGroup{n: n, cols: make([]uint64, pieces)}
	for p := range pieces {
		lo, hi := p*n/pieces, (p+1)*n/pieces
		tc, err := sh.enc.EncodeTimestamps(sh.cbuf, sh.ts[lo:hi])
		if err != nil {
			return nil, fmt.Errorf("block: compact: %w", err)
		}
		sh.cbuf = tc.Data
		if g.cols[p], err = c.w.AddTimestamps(tc); err != nil {
			return nil, err
		}
	}
	if sh.kept+n <= sharedKeepSamples {
		g.ts = slices.Clone(sh.ts)
		sh.kept += n
	}
	sh.groups[h] = append(sh.groups[h], g)
	return g, nil
}

// decodeGroup decodes a group's sequence from its columns in the writer.
func (c *compactor) decodeGroup(g *tsGroup) ([]int64, error) {
	sh := c.sh
	sh.cmp = sh.cmp[:0]
	for _, col := range g.cols {
		if col > math.MaxInt {
			return nil, fmt.Errorf("BUG: block: compact: column %d", col)
		}
		tc, _, err := chunkstore.DecodeRecord(c.w.ts, int(col))
		if err != nil {
			return nil, fmt.Errorf("BUG: block: compact: re-read column %d: %w", col, err)
		}
		if sh.cmp, err = chunkstore.DecodeTimestamps(sh.cmp, tc); err != nil {
			return nil, fmt.Errorf("BUG: block: compact: re-read column %d: %w", col, err)
		}
	}
	return sh.cmp, nil
}
