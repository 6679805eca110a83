package block

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// genTargets returns series of scrape targets: every series of a target
// has the target's jittered 15 s timestamps, except that some miss one
// scrape and some have timestamps of their own. Values are mostly decimal
// (some random floats, stale markers, ±Inf, −0).
func genTargets(rng *rand.Rand, targets int, mint, maxt int64) []testSeries {
	var out []testSeries
	for tg := range targets {
		var ts []int64
		for t := mint + rng.Int64N(100); t < maxt; t += 15000 + rng.Int64N(41) - 20 {
			ts = append(ts, t)
		}
		for m := range 2 + rng.IntN(10) {
			own := ts
			switch rng.IntN(8) {
			case 0: // a missed scrape
				if len(ts) > 2 {
					k := rng.IntN(len(ts))
					own = append(append([]int64(nil), ts[:k]...), ts[k+1:]...)
				}
			case 1: // timestamps of its own
				own = nil
				for t := mint + rng.Int64N(1000); t < maxt; t += 1 + rng.Int64N(30000) {
					own = append(own, t)
				}
			}
			s := testSeries{lset: labels.FromStrings("__name__", "m"+strconv.Itoa(m), "instance", "h"+strconv.Itoa(tg))}
			var v float64
			_ = rng.IntN(1000) // a draw kept so that the seeded data stay as they were
			floaty := rng.IntN(6) == 0
			for _, t := range own {
				switch {
				case floaty:
					v = rng.NormFloat64() * 1e6
				case rng.IntN(60) == 0:
					v = []float64{staleNaN, math.Inf(1), math.Copysign(0, -1)}[rng.IntN(3)]
				default:
					v = float64(rng.IntN(100000)) / 100
				}
				s.samples = append(s.samples, testSample{t, v})
			}
			if len(s.samples) > 0 {
				out = append(out, s)
			}
		}
	}
	sortSeries(out)
	return out
}

func sortSeries(s []testSeries) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && labels.Compare(s[j-1].lset, s[j].lset) > 0; j-- {
			s[j-1], s[j] = s[j], s[j-1]
		}
	}
}

// splitByTime returns the samples of series in [mint, maxt).
func splitByTime(series []testSeries, mint, maxt int64) []testSeries {
	var out []testSeries
	for _, s := range series {
		n := testSeries{lset: s.lset}
		for _, smp := range s.samples {
			if smp.t >= mint && smp.t < maxt {
				n.samples = append(n.samples, smp)
			}
		}
		if len(n.samples) > 0 {
			out = append(out, n)
		}
	}
	return out
}

// encodingsOf counts the chunk encodings of b.
func encodingsOf(t *testing.T, b *Block) map[chunkstore.Encoding]int {
	t.Helper()
	encs := map[chunkstore.Encoding]int{}
	for ref := range b.NumSeries() {
		_, metas, err := b.Series(uint32(ref), nil)
		require.NoError(t, err)
		for _, m := range metas {
			c, err := b.Chunk(m.Ref)
			require.NoError(t, err)
			encs[c.Enc]++
		}
	}
	return encs
}

// TestCompactShared_KeepsEverySample: Compact with shared timestamps keeps
// every sample bit-exact over groups, singletons, missed scrapes,
// tombstones and overlapping inputs, and writes shared chunks.
func TestCompactShared_KeepsEverySample(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 11))
	shared := 0
	for round := range 20 {
		parent := t.TempDir()
		const span = 4 * 3600 * 1000
		all := genTargets(rng, 1+rng.IntN(4), 0, span)
		k := 1 + rng.IntN(3)
		var (
			inputs [][]testSeries
			tombs  []map[string]Intervals
			blocks []*Block
		)
		for i := range k {
			mint, maxt := int64(i)*span/int64(k), int64(i+1)*span/int64(k)
			if i > 0 && rng.IntN(4) == 0 {
				mint -= 40000 // overlap the previous input
			}
			series := splitByTime(all, mint, maxt)
			if len(series) == 0 {
				continue
			}
			b := writeTestBlock(t, parent, series, mint, maxt, WriterOptions{}, func(int) int { return 120 })
			ts, tk := Tombstones{}, map[string]Intervals{}
			for ref, s := range series {
				if rng.IntN(6) != 0 {
					continue
				}
				a := mint + rng.Int64N(maxt-mint)
				ivs := Intervals{}.Add(Interval{a, a + rng.Int64N(100000)})
				ts[uint32(ref)] = ivs
				tk[s.lset.String()] = ivs
			}
			require.NoError(t, b.SetTombstones(ts))
			inputs, tombs, blocks = append(inputs, series), append(tombs, tk), append(blocks, b)
		}
		if len(blocks) == 0 {
			continue
		}
		o := CompactOptions{SharedTimestamps: true, LongTermSamples: 1 + rng.IntN(400),
			ConstantSamples: []int{0, 50, 3000}[rng.IntN(3)], Writer: WriterOptions{CompressIndex: rng.IntN(2) == 0}}
		if rng.IntN(2) == 0 {
			re := chunkstore.NewReencoder(chunkstore.ReencodeOptions{MaxSamples: 200})
			o.Rechunk = func(dst []chunkstore.Chunk, _ labels.Labels, src []chunkstore.Chunk) ([]chunkstore.Chunk, error) {
				return re.Reencode(dst, src)
			}
		}
		meta, err := Compact(parent, blocks, o)
		require.NoError(t, err, "round %d", round)
		dir := filepath.Join(parent, meta.ULID.String())
		out, err := Open(dir, OpenOptions{TimestampCacheSamples: []int{-1, 0, 500}[rng.IntN(3)]})
		require.NoError(t, err)
		require.NoError(t, out.Verify())
		requireSameSeries(t, bruteMerge(inputs, tombs), readBlock(t, out))
		require.Equal(t, indexVersion2, out.ix.b[4])
		shared += encodingsOf(t, out)[chunkstore.EncDecimalShared]
		require.NoError(t, out.Close())
	}
	require.Positive(t, shared, "no round wrote a shared-timestamp chunk")
}

// sharedFixture writes a compacted block with shared timestamps (two
// targets of five series, plus a series of its own) and returns its
// directory and content.
func sharedFixture(t *testing.T) (string, []testSeries) {
	t.Helper()
	parent := t.TempDir()
	var series []testSeries
	for h := range 2 {
		for m := range 5 {
			s := testSeries{lset: labels.FromStrings("__name__", "m"+strconv.Itoa(m), "instance", "h"+strconv.Itoa(h))}
			for i := range 300 {
				s.samples = append(s.samples, testSample{int64(i*15000 + (i*7+h)%13), float64(i%17+m) / 10})
			}
			series = append(series, s)
		}
	}
	series = append(series, testSeries{lset: labels.FromStrings("__name__", "z"), samples: []testSample{{5, 1}, {7, 2}}})
	sortSeries(series)
	b := writeTestBlock(t, parent, series, 0, 300*15000, WriterOptions{}, func(int) int { return 120 })
	meta, err := Compact(parent, []*Block{b}, CompactOptions{SharedTimestamps: true, LongTermSamples: 100})
	require.NoError(t, err)
	return filepath.Join(parent, meta.ULID.String()), series
}

// TestCompactShared_ConstantSeries: with ConstantSamples above the series'
// length, a group member whose values are all equal bit for bit is one
// chunk over a whole-sequence column of its group; the others keep one
// chunk per window. Everything reads back exactly.
func TestCompactShared_ConstantSeries(t *testing.T) {
	vals := []func(i int) float64{
		func(int) float64 { return 7.5 },                         // constant
		func(int) float64 { return staleNaN },                    // constant, not decimal
		func(int) float64 { return math.Inf(-1) },                // constant, not decimal
		func(i int) float64 { return float64(i) },                // counter
		func(i int) float64 { return []float64{1, 1, 2}[i/100] }, // constant in the first two windows only
	}
	for _, tc := range []struct {
		constSamples int
		chunks       []int // per series m0…m4
		columns      int
	}{
		{0, []int{3, 3, 3, 3, 3}, 6},
		{299, []int{3, 3, 3, 3, 3}, 6},
		{300, []int{1, 3, 3, 3, 3}, 8}, // m1, m2: no values-only chunk (exceptions only), so per window as before
	} {
		parent := t.TempDir()
		var series []testSeries
		for h := range 2 {
			for m, f := range vals {
				s := testSeries{lset: labels.FromStrings("__name__", "m"+strconv.Itoa(m), "instance", "h"+strconv.Itoa(h))}
				for i := range 300 {
					s.samples = append(s.samples, testSample{int64(i*15000 + (i*7+h)%13), f(i)})
				}
				series = append(series, s)
			}
		}
		sortSeries(series)
		b := writeTestBlock(t, parent, series, 0, 300*15000, WriterOptions{}, func(int) int { return 120 })
		meta, err := Compact(parent, []*Block{b}, CompactOptions{SharedTimestamps: true, LongTermSamples: 100, ConstantSamples: tc.constSamples})
		require.NoError(t, err)
		out, err := Open(filepath.Join(parent, meta.ULID.String()), OpenOptions{})
		require.NoError(t, err)
		require.NoError(t, out.Verify())
		requireSameSeries(t, series, readBlock(t, out))
		for ref := range uint32(out.NumSeries()) {
			lset, metas, err := out.Series(ref, nil)
			require.NoError(t, err)
			m, _ := strconv.Atoi(lset.Get("__name__")[1:])
			require.Len(t, metas, tc.chunks[m], "%s, ConstantSamples %d", lset, tc.constSamples)
		}
		n := 0
		for off := 0; off < len(out.ix.ts); n++ {
			_, next, err := chunkstore.DecodeRecord(out.ix.ts, off)
			require.NoError(t, err)
			off = next
		}
		require.Equal(t, tc.columns, n, "ConstantSamples %d", tc.constSamples)
		require.NoError(t, out.Close())
	}
}

func TestCompactShared_ColumnsPerGroup(t *testing.T) {
	dir, series := sharedFixture(t)
	b, err := Open(dir, OpenOptions{})
	require.NoError(t, err)
	defer b.Close()
	requireSameSeries(t, series, readBlock(t, b))
	// Two groups × three windows of 100 samples; "z" stays self-contained.
	n := 0
	for off := 0; off < len(b.ix.ts); n++ {
		_, next, err := chunkstore.DecodeRecord(b.ix.ts, off)
		require.NoError(t, err)
		off = next
	}
	require.Equal(t, 6, n)
	encs := encodingsOf(t, b)
	require.Equal(t, 30, encs[chunkstore.EncDecimalShared])
	require.Equal(t, 1, encs[chunkstore.EncXOR])
}

// rewriteIndex applies f to the index of dir and recomputes its checksums.
func rewriteIndex(t *testing.T, dir string, f func(b []byte, ir *indexReader)) {
	t.Helper()
	p := filepath.Join(dir, indexFilename)
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	ir, err := parseIndex(dir, raw)
	require.NoError(t, err)
	f(raw, ir)
	fixIndexCRCs(raw)
	require.NoError(t, os.WriteFile(p, raw, 0o644))
}

func TestCompactShared_Corruption(t *testing.T) {
	t.Run("section CRC at open", func(t *testing.T) {
		dir, _ := sharedFixture(t)
		p := filepath.Join(dir, indexFilename)
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		ir, err := parseIndex(dir, raw)
		require.NoError(t, err)
		raw[ir.tsAt+3] ^= 0x10
		require.NoError(t, os.WriteFile(p, raw, 0o644))
		_, err = Open(dir, OpenOptions{})
		var ce *CorruptionError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, indexFilename, ce.File)
		require.Equal(t, ir.tsAt-4, ce.Offset, "the section's frame")
	})
	t.Run("column record fails only its series", func(t *testing.T) {
		dir, series := sharedFixture(t)
		var at int64
		rewriteIndex(t, dir, func(b []byte, ir *indexReader) {
			// Damage the second column (of the first group) inside its record.
			_, next, err := chunkstore.DecodeRecord(ir.ts, 0)
			require.NoError(t, err)
			at = ir.tsAt + int64(next)
			b[at+5] ^= 0xff
		})
		b, err := Open(dir, OpenOptions{})
		require.NoError(t, err, "section checksums were recomputed")
		defer b.Close()
		require.ErrorIs(t, b.Verify(), ErrCorrupt)
		failed := 0
		for ref := range b.NumSeries() {
			lset, metas, err := b.Series(uint32(ref), nil)
			require.NoError(t, err)
			for _, m := range metas {
				_, err := b.Chunk(m.Ref)
				if err == nil {
					continue
				}
				failed++
				var ce *CorruptionError
				require.ErrorAs(t, err, &ce, "series %s", lset)
				require.Equal(t, indexFilename, ce.File)
				require.Equal(t, at, ce.Offset)
				require.ErrorIs(t, err, chunkstore.ErrCorrupt)
			}
		}
		require.Equal(t, 5, failed, "the five series of one group, one window each")
		_ = series
	})
	t.Run("unknown index version", func(t *testing.T) {
		dir, _ := sharedFixture(t)
		p := filepath.Join(dir, indexFilename)
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		raw[4] = indexVersion3 + 1 // the first unknown version
		require.NoError(t, os.WriteFile(p, raw, 0o644))
		_, err = Open(dir, OpenOptions{})
		require.ErrorIs(t, err, ErrUnsupportedVersion)
	})
	t.Run("every truncation of a column", func(t *testing.T) {
		dir, _ := sharedFixture(t)
		b, err := Open(dir, OpenOptions{TimestampCacheSamples: -1})
		require.NoError(t, err)
		defer b.Close()
		c, next, err := chunkstore.DecodeRecord(b.ix.ts, 0)
		require.NoError(t, err)
		require.Equal(t, chunkstore.EncTimestamps, c.Enc)
		full := b.ix.ts
		for i := range next {
			b.ix.ts = full[:i]
			_, err := b.column(0)
			require.ErrorIs(t, err, ErrCorrupt, "section cut to %d bytes", i)
		}
		b.ix.ts = full
	})
}

func TestWriterShared_Errors(t *testing.T) {
	var e chunkstore.DecimalEncoder
	ts := []int64{1000, 16000, 31000}
	tc, err := e.EncodeTimestamps(nil, ts)
	require.NoError(t, err)
	tc.Data = append([]byte(nil), tc.Data...)

	w, err := NewWriter(t.TempDir(), 0, 100000, WriterOptions{})
	require.NoError(t, err)
	_, err = w.AddTimestamps(tc)
	require.ErrorIs(t, err, ErrNoTimestampsSection)
	w.Abort()

	w, err = NewWriter(t.TempDir(), 0, 100000, WriterOptions{SharedTimestamps: true})
	require.NoError(t, err)
	defer w.Abort()
	col, err := w.AddTimestamps(tc)
	require.NoError(t, err)
	_, err = w.AddTimestamps(chunkstore.Chunk{Enc: chunkstore.EncXOR, NumSamples: 1})
	require.ErrorIs(t, err, ErrBadColumn)
	out, err := e.EncodeTimestamps(nil, []int64{1000, 200000})
	require.NoError(t, err)
	_, err = w.AddTimestamps(out)
	require.ErrorIs(t, err, ErrOutOfBounds)

	good, ok, err := e.EncodeShared(nil, col, ts, []float64{1, 2, 3})
	require.NoError(t, err)
	require.True(t, ok)
	bad, ok, err := e.EncodeShared(nil, col+1, ts, []float64{1, 2, 3})
	require.NoError(t, err)
	require.True(t, ok)
	require.ErrorIs(t, w.AddSeries(labels.FromStrings("a", "1"), []chunkstore.Chunk{bad}), ErrBadColumn)
	short, ok, err := e.EncodeShared(nil, col, ts[:2], []float64{1, 2})
	require.NoError(t, err)
	require.True(t, ok)
	require.ErrorIs(t, w.AddSeries(labels.FromStrings("a", "1"), []chunkstore.Chunk{short}), ErrBadColumn)
	require.NoError(t, w.AddSeries(labels.FromStrings("a", "1"), []chunkstore.Chunk{good}))
	meta, err := w.Finish()
	require.NoError(t, err)
	require.Equal(t, uint64(3), meta.Stats.NumSamples)
}

// TestBlockShared_ChunkAllocsZero: reading a shared chunk whose column is
// cached allocates nothing.
func TestBlockShared_ChunkAllocsZero(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	dir, _ := sharedFixture(t)
	b, err := Open(dir, OpenOptions{})
	require.NoError(t, err)
	defer b.Close()
	_, metas, err := b.Series(0, nil)
	require.NoError(t, err)
	var it chunkstore.Iterator
	allocs := testing.AllocsPerRun(50, func() {
		c, err := b.Chunk(metas[0].Ref)
		if err != nil || c.Enc != chunkstore.EncDecimalShared {
			panic(errors.Join(err, errors.New("not a shared chunk")))
		}
		it.Reset(c)
		for it.Next() {
		}
	})
	require.Zero(t, allocs)
}

// seedIndexV2 returns the index bytes of a small block with shared
// timestamps.
func seedIndexV2(f *testing.F) []byte {
	f.Helper()
	parent := f.TempDir()
	w, err := NewWriter(parent, 0, 100000, WriterOptions{SharedTimestamps: true})
	if err != nil {
		f.Fatal(err)
	}
	var e chunkstore.DecimalEncoder
	ts := []int64{1000, 16000, 31003, 46001}
	tc, err := e.EncodeTimestamps(nil, ts)
	if err != nil {
		f.Fatal(err)
	}
	col, err := w.AddTimestamps(tc)
	if err != nil {
		f.Fatal(err)
	}
	for i, name := range []string{"a", "b"} {
		c, _, err := e.EncodeShared(nil, col, ts, []float64{float64(i), 0.5, 0.25, 1})
		if err != nil {
			f.Fatal(err)
		}
		if err := w.AddSeries(labels.FromStrings("__name__", "m", "x", name), []chunkstore.Chunk{c}); err != nil {
			f.Fatal(err)
		}
	}
	m, err := w.Finish()
	if err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(parent, m.ULID.String(), indexFilename))
	if err != nil {
		f.Fatal(err)
	}
	return b
}
