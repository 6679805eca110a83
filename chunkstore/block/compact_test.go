package block

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// bruteMerge is the reference for Compact: for every label set, the union
// of the inputs' samples minus each input's tombstones, with equal
// timestamps resolved in favour of the later input.
func bruteMerge(inputs [][]testSeries, tombs []map[string]Intervals) []testSeries {
	type key = string
	byKey := map[key]map[int64]float64{}
	lsets := map[key]labels.Labels{}
	for i, in := range inputs {
		for _, s := range in {
			k := s.lset.String()
			if byKey[k] == nil {
				byKey[k] = map[int64]float64{}
			}
			lsets[k] = s.lset
			for _, smp := range s.samples {
				if tombs[i][k].Contains(smp.t) {
					continue
				}
				byKey[k][smp.t] = smp.v // later input overwrites
			}
		}
	}
	var out []testSeries
	for k, m := range byKey {
		if len(m) == 0 {
			continue
		}
		s := testSeries{lset: lsets[k]}
		for t, v := range m {
			s.samples = append(s.samples, testSample{t, v})
		}
		slices.SortFunc(s.samples, func(a, b testSample) int { return int(a.t - b.t) })
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b testSeries) int { return labels.Compare(a.lset, b.lset) })
	return out
}

func TestCompact_KeepsEverySample(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 3))
	for round := range 20 {
		parent := t.TempDir()
		k := 1 + rng.IntN(4)
		var (
			inputs [][]testSeries
			tombs  []map[string]Intervals
			blocks []*Block
			level  int
		)
		for i := range k {
			// Overlapping ranges: every input starts somewhere in [0, 3000).
			mint := rng.Int64N(3000)
			maxt := mint + 1 + rng.Int64N(4000)
			series := nonEmpty(genSeries(rng, 1+rng.IntN(20), mint, maxt, true))
			// Equal timestamps across inputs: copy some samples of the
			// previous input with other values.
			if i > 0 && rng.IntN(2) == 0 {
				series = withSharedTimestamps(rng, series, inputs[i-1], mint, maxt)
			}
			lvl := 1 + rng.IntN(3)
			level = max(level, lvl)
			per := 1 + rng.IntN(130)
			b := writeTestBlock(t, parent, series, mint, maxt, WriterOptions{Level: lvl}, func(int) int { return per })
			ts := Tombstones{}
			tk := map[string]Intervals{}
			for ref, s := range series {
				if rng.IntN(3) != 0 {
					continue
				}
				var ivs Intervals
				for range 1 + rng.IntN(3) {
					a := mint + rng.Int64N(maxt-mint)
					ivs = ivs.Add(Interval{a, a + rng.Int64N(800)})
				}
				if rng.IntN(8) == 0 {
					ivs = ivs.Add(Interval{mint, maxt}) // whole series deleted
				}
				ts[uint32(ref)] = ivs
				tk[s.lset.String()] = ivs
			}
			require.NoError(t, b.SetTombstones(ts))
			inputs = append(inputs, series)
			tombs = append(tombs, tk)
			blocks = append(blocks, b)
		}
		maxSamples := 0
		if rng.IntN(2) == 0 {
			maxSamples = 1 + rng.IntN(200)
		}
		meta, err := Compact(parent, blocks, CompactOptions{MaxChunkSamples: maxSamples})
		require.NoError(t, err, "round %d", round)
		out, err := Open(filepath.Join(parent, meta.ULID.String()), OpenOptions{})
		require.NoError(t, err)
		require.NoError(t, out.Verify())
		requireSameSeries(t, bruteMerge(inputs, tombs), readBlock(t, out))

		require.Equal(t, level+1, meta.Compaction.Level)
		var wantSources []ulid.ULID
		for _, b := range blocks {
			wantSources = append(wantSources, b.Meta().ULID)
			require.Equal(t, min(meta.MinTime, b.Meta().MinTime), meta.MinTime)
			require.Equal(t, max(meta.MaxTime, b.Meta().MaxTime), meta.MaxTime)
		}
		slices.SortFunc(wantSources, ulid.ULID.Compare)
		require.Equal(t, wantSources, meta.Compaction.Sources)
		require.Len(t, meta.Compaction.Parents, k)
		require.NoError(t, out.Close())
	}
}

// withSharedTimestamps adds to series, for some label sets of prev, samples
// at prev's timestamps (inside [mint, maxt)) with different values.
func withSharedTimestamps(rng *rand.Rand, series, prev []testSeries, mint, maxt int64) []testSeries {
	for _, p := range prev {
		if rng.IntN(2) == 0 {
			continue
		}
		var s []testSample
		for _, smp := range p.samples {
			if smp.t >= mint && smp.t < maxt {
				s = append(s, testSample{smp.t, smp.v + 1})
			}
		}
		if len(s) == 0 {
			continue
		}
		i, found := slices.BinarySearchFunc(series, p.lset, func(a testSeries, l labels.Labels) int { return labels.Compare(a.lset, l) })
		if found {
			series[i].samples = s
		} else {
			series = slices.Insert(series, i, testSeries{lset: p.lset, samples: s})
		}
	}
	return series
}

func TestCompact_CopiesUntouchedChunks(t *testing.T) {
	parent := t.TempDir()
	a := []testSeries{{lset: labels.FromStrings("a", "1"), samples: []testSample{{1, 1}, {2, 2}, {3, 3}}}}
	b := []testSeries{{lset: labels.FromStrings("a", "1"), samples: []testSample{{10, 1}, {11, 2}}}}
	ba := writeTestBlock(t, parent, a, 0, 10, WriterOptions{}, func(int) int { return 2 })
	bb := writeTestBlock(t, parent, b, 10, 20, WriterOptions{}, func(int) int { return 2 })
	var seen []int
	meta, err := Compact(parent, []*Block{ba, bb}, CompactOptions{
		MaxChunkSamples: 100,
		Rechunk: func(dst []chunkstore.Chunk, _ labels.Labels, src []chunkstore.Chunk) ([]chunkstore.Chunk, error) {
			for _, c := range src {
				seen = append(seen, c.NumSamples)
			}
			return append(dst, src...), nil
		},
	})
	require.NoError(t, err)
	require.Equal(t, []int{2, 1, 2}, seen, "non-overlapping chunks keep their boundaries")
	out, err := Open(filepath.Join(parent, meta.ULID.String()), OpenOptions{})
	require.NoError(t, err)
	defer out.Close()
	require.Equal(t, int64(0), meta.MinTime)
	require.Equal(t, int64(20), meta.MaxTime)
	require.Equal(t, 2, meta.Compaction.Level)
	requireSameSeries(t, []testSeries{{lset: a[0].lset, samples: append(slices.Clone(a[0].samples), b[0].samples...)}}, readBlock(t, out))
}

func TestCompact_ClosedInput(t *testing.T) {
	parent := t.TempDir()
	b := writeTestBlock(t, parent, nil, 0, 10, WriterOptions{}, func(int) int { return 1 })
	c := writeTestBlock(t, parent, nil, 0, 10, WriterOptions{}, func(int) int { return 1 })
	require.NoError(t, c.Close())
	_, err := Compact(parent, []*Block{b, c}, CompactOptions{})
	require.ErrorIs(t, err, ErrClosed)
	require.True(t, b.Acquire(), "references taken by the failed Compact were released")
	b.Release()
	_, err = Compact(parent, nil, CompactOptions{})
	require.Error(t, err)
}
