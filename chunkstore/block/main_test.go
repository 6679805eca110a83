package block

import (
	"flag"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: time-based, logged)")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testSeed returns the seed for a randomized test and logs it so a failure
// can be replayed with -seed.
func testSeed(tb testing.TB) uint64 {
	tb.Helper()
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	tb.Logf("seed %d (replay with -seed=%d)", s, s)
	return s
}

type testSample struct {
	t int64
	v float64
}

type testSeries struct {
	lset    labels.Labels
	samples []testSample
}

var staleNaN = math.Float64frombits(0x7ff0000000000002)

// genSeries returns n series with distinct, sorted label sets and samples
// with strictly increasing timestamps in [mint, maxt). Some series are
// empty when allowEmpty is set.
func genSeries(rng *rand.Rand, n int, mint, maxt int64, allowEmpty bool) []testSeries {
	seen := map[string]bool{}
	var out []testSeries
	for len(out) < n {
		b := labels.NewScratchBuilder(4)
		b.Add("__name__", "metric_"+strconv.Itoa(rng.IntN(7)))
		b.Add("instance", "host-"+strconv.Itoa(rng.IntN(50)))
		if rng.IntN(2) == 0 {
			b.Add("job", []string{"node", "api", "db"}[rng.IntN(3)])
		}
		if rng.IntN(3) == 0 {
			b.Add("zone", "z"+strconv.Itoa(rng.IntN(4)))
		}
		b.Sort()
		lset := b.Labels()
		if seen[lset.String()] {
			continue
		}
		seen[lset.String()] = true
		out = append(out, testSeries{lset: lset, samples: genSamples(rng, mint, maxt, allowEmpty)})
	}
	slices.SortFunc(out, func(a, b testSeries) int { return labels.Compare(a.lset, b.lset) })
	return out
}

func genSamples(rng *rand.Rand, mint, maxt int64, allowEmpty bool) []testSample {
	n := 1 + rng.IntN(400)
	if allowEmpty && rng.IntN(10) == 0 {
		return nil
	}
	step := max(1, (maxt-mint)/int64(n+1))
	t := mint + rng.Int64N(step)
	var s []testSample
	var v float64
	_ = rng.IntN(1000) // a draw kept so that the seeded data stay as they were
	for t < maxt && len(s) < n {
		switch rng.IntN(40) {
		case 0:
			v = staleNaN
		case 1:
			v = math.Inf(1 - 2*rng.IntN(2))
		case 2:
			v = math.Copysign(0, -1)
		default:
			if rng.IntN(2) == 0 {
				v = float64(rng.IntN(1000)) / 10
			} else {
				v = rng.NormFloat64() * 1e6
			}
		}
		s = append(s, testSample{t: t, v: v})
		t += 1 + rng.Int64N(2*step)
	}
	return s
}

// encodeChunks cuts samples into chunks of at most per samples.
func encodeChunks(samples []testSample, per int) []chunkstore.Chunk {
	var out []chunkstore.Chunk
	for i := 0; i < len(samples); i += per {
		var a chunkstore.Appender
		a.Reset(nil)
		for _, s := range samples[i:min(i+per, len(samples))] {
			a.Append(s.t, s.v)
		}
		out = append(out, a.Chunk())
	}
	return out
}

// writeTestBlock writes series into a new block in parent and opens it.
func writeTestBlock(tb testing.TB, parent string, series []testSeries, mint, maxt int64, o WriterOptions, per func(i int) int) *Block {
	tb.Helper()
	w, err := NewWriter(parent, mint, maxt, o)
	require.NoError(tb, err)
	for i, s := range series {
		require.NoError(tb, w.AddSeries(s.lset, encodeChunks(s.samples, per(i))))
	}
	meta, err := w.Finish()
	require.NoError(tb, err)
	b, err := Open(filepath.Join(parent, meta.ULID.String()), OpenOptions{})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// readBlock returns every series of b with its samples, in ref order.
func readBlock(tb testing.TB, b *Block) []testSeries {
	tb.Helper()
	var out []testSeries
	var it chunkstore.Iterator
	for ref := 0; ref < b.NumSeries(); ref++ {
		lset, metas, err := b.Series(uint32(ref), nil)
		require.NoError(tb, err)
		s := testSeries{lset: lset}
		for _, m := range metas {
			c, err := b.Chunk(m.Ref)
			require.NoError(tb, err)
			require.Equal(tb, m.MinT, c.MinT)
			require.Equal(tb, m.MaxT, c.MaxT)
			it.Reset(c)
			for it.Next() {
				t, v := it.At()
				s.samples = append(s.samples, testSample{t, v})
			}
			require.NoError(tb, it.Err())
		}
		out = append(out, s)
	}
	return out
}

// requireSameSeries compares label sets and samples bit-exactly.
func requireSameSeries(tb testing.TB, want, got []testSeries) {
	tb.Helper()
	require.Equal(tb, len(want), len(got), "series count")
	for i := range want {
		require.True(tb, labels.Equal(want[i].lset, got[i].lset), "series %d: want %s, got %s", i, want[i].lset, got[i].lset)
		require.Equal(tb, len(want[i].samples), len(got[i].samples), "series %s sample count", want[i].lset)
		for j := range want[i].samples {
			w, g := want[i].samples[j], got[i].samples[j]
			require.Equal(tb, w.t, g.t, "series %s sample %d", want[i].lset, j)
			require.Equal(tb, math.Float64bits(w.v), math.Float64bits(g.v), "series %s sample %d at %d", want[i].lset, j, w.t)
		}
	}
}

func nonEmpty(series []testSeries) []testSeries {
	var out []testSeries
	for _, s := range series {
		if len(s.samples) > 0 {
			out = append(out, s)
		}
	}
	return out
}
