package chunkstore

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// decodeFrom iterates c from ResetFrom(c, from) to the end with it.
func decodeFrom(it *Iterator, c Chunk, from int64) ([]sample, error) {
	it.ResetFrom(c, from)
	var out []sample
	for it.Next() {
		t, v := it.At()
		out = append(out, sample{t, math.Float64bits(v)})
	}
	return out, it.Err()
}

// suffixFrom is the samples of ss at or after from.
func suffixFrom(ss []sample, from int64) []sample {
	for i, s := range ss {
		if s.t >= from {
			return ss[i:]
		}
	}
	return nil
}

// fromCandidates are the interesting from values for ss: before, at and
// between samples, the last one and after it.
func fromCandidates(r *rand.Rand, ss []sample) []int64 {
	out := []int64{math.MinInt64, math.MaxInt64}
	if len(ss) == 0 {
		return out
	}
	out = append(out, ss[0].t, ss[0].t-1, ss[len(ss)-1].t, ss[len(ss)-1].t+1)
	for range 6 {
		i := r.IntN(len(ss))
		out = append(out, ss[i].t, ss[i].t+1, ss[i].t-1)
	}
	return out
}

// requireFromAgrees checks that ResetFrom returns exactly the samples at or
// after from, that SeekTo and Decoded never go before them, and that a
// later full Reset of the same iterator is unaffected.
func requireFromAgrees(t *testing.T, r *rand.Rand, it *Iterator, c Chunk, ss []sample) {
	t.Helper()
	for _, from := range fromCandidates(r, ss) {
		want := suffixFrom(ss, from)
		// A fresh iterator (its buffers hold nothing left from an
		// earlier decode of the same chunk) and the reused one.
		for _, i := range []*Iterator{new(Iterator), it} {
			got, err := decodeFrom(i, c, from)
			require.NoError(t, err, "from %d", from)
			require.Equal(t, len(want), len(got), "from %d", from)
			if len(want) > 0 {
				require.Equal(t, want, got, "from %d", from)
			}
		}

		// SeekTo to an earlier time stops at the first sample from on.
		it.ResetFrom(c, from)
		ok := it.SeekTo(math.MinInt64)
		require.Equal(t, len(want) > 0, ok, "seek after from %d", from)
		if ok {
			st, sv := it.At()
			require.Equal(t, want[0], sample{st, math.Float64bits(sv)})
		}

		// Decoded columns start at from too.
		it.ResetFrom(c, from)
		if ts, vs := it.Decoded(); ts != nil {
			require.Equal(t, len(want), len(ts))
			for i := range ts {
				require.Equal(t, want[i], sample{ts[i], vs[i]}, "decoded %d from %d", i, from)
			}
		}

		// The same iterator decodes the whole chunk afterwards.
		it.Reset(c)
		var all []sample
		for it.Next() {
			st, sv := it.At()
			all = append(all, sample{st, math.Float64bits(sv)})
		}
		require.NoError(t, it.Err())
		require.Equal(t, len(ss), len(all))
		if len(ss) > 0 {
			require.Equal(t, ss, all)
		}
	}
}

func TestIterator_ResetFrom(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 13))
	var it Iterator
	series := [][]sample{
		nil,
		{{1000, math.Float64bits(1.5)}},
		{{1000, math.Float64bits(1.5)}, {2000, 0x7ff0000000000002}},
	}
	for range 40 {
		series = append(series, randomDecimalSeries(r, r.IntN(3000)))
	}
	// Counters and gauges of a few decimals (delta and dod models),
	// near-decimal values (ULP corrections) and stale markers.
	for k := range 7 {
		ts := constT(2000+k*150, 1795475719404, 15000)
		walk := 1 << 30
		series = append(series, withV(ts, func(i int) float64 {
			switch k {
			case 0:
				return float64(i*i) / 100 // dod model
			case 1:
				return float64(i%37) * 4096 // gcd
			case 2:
				return float64(i) * 17 / 1000 / 1000 // near model
			case 3:
				if i%100 == 7 {
					return math.Float64frombits(0x7ff0000000000002)
				}
				return float64(i) / 10
			case 4:
				return 42
			case 5:
				walk += 4096 * (r.IntN(11) - 5) // delta model with gcd
				return float64(walk)
			}
			return float64(i) * 0.1
		}))
	}
	for _, ss := range series {
		requireFromAgrees(t, r, &it, encode(ss), ss)
		for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
			requireFromAgrees(t, r, &it, encodeDecimal(t, ss, l), ss)
			tc, vc, ok := encodeShared(t, ss, l, 9)
			if !ok {
				continue
			}
			ts, err := DecodeTimestamps(nil, tc)
			require.NoError(t, err)
			vc.Timestamps = ts
			requireFromAgrees(t, r, &it, vc, ss)
		}
	}
}

// TestIterator_ResetFromChecksWholeChunk: damage before from is still
// found, as with Reset (a chunk is never partly trusted).
func TestIterator_ResetFromChecksWholeChunk(t *testing.T) {
	ss := withV(constT(500, 1795475719404, 15000), func(i int) float64 { return float64(i*7%31) / 10 })
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		c := encodeDecimal(t, ss, l)
		bad := c
		bad.MaxT++ // the timestamps no longer end at MaxT
		_, err := decodeFrom(new(Iterator), bad, ss[499].t)
		require.ErrorIs(t, err, ErrCorrupt, "layout %d", l)
		trunc := c
		trunc.Data = c.Data[:len(c.Data)-1]
		_, err = decodeFrom(new(Iterator), trunc, ss[499].t)
		require.ErrorIs(t, err, ErrCorrupt, "layout %d", l)
	}
}

func TestIterator_ResetFromAllocsZero(t *testing.T) {
	ss := withV(constT(2880, 1795475719404, 15000), func(i int) float64 { return float64(i*i%977) / 100 })
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		c := encodeDecimal(t, ss, l)
		var it Iterator
		_, _ = decodeFrom(&it, c, 0) // grow the buffers
		from := ss[2860].t
		allocs := testing.AllocsPerRun(20, func() {
			it.ResetFrom(c, from)
			for it.Next() {
			}
		})
		require.Zero(t, allocs, "layout %d", l)
	}
}

// FuzzResetFrom: for any payload, ResetFrom fails exactly when Reset does
// (the whole chunk is checked) and otherwise returns the suffix of what
// Reset returns, never panicking.
func FuzzResetFrom(f *testing.F) {
	ss := withV(constT(300, 1795475719404, 15023), func(i int) float64 { return float64(i*i%97) / 10 })
	ss[3].v = 0x7ff0000000000002
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		c := encodeDecimal(f, ss, l)
		f.Add(c.Data, uint16(c.NumSamples), c.MinT, c.MaxT, ss[250].t, false)
		_, vc, ok := encodeShared(f, ss, l, 5)
		require.True(f, ok)
		f.Add(vc.Data, uint16(vc.NumSamples), c.MinT, c.MaxT, ss[299].t, true)
	}
	f.Add([]byte{0, 0, 2, 0, 0, 0x7f}, uint16(3), int64(5), int64(5), int64(5), false)
	f.Fuzz(func(t *testing.T, data []byte, n uint16, minT, maxT, from int64, shared bool) {
		c := Chunk{Enc: EncDecimal, NumSamples: int(n), MinT: minT, MaxT: maxT, Data: data}
		if shared {
			ts := make([]int64, n)
			for i := range ts {
				ts[i] = minT + int64(i)*15000
			}
			c.Enc, c.Timestamps = EncDecimalShared, ts
			if n > 0 {
				c.MaxT = ts[n-1]
			}
		}
		all, errAll := decodeAll(c)
		part, errPart := decodeFrom(new(Iterator), c, from)
		if errAll != nil {
			require.Error(t, errPart)
			return
		}
		require.NoError(t, errPart)
		want := suffixFrom(all, from)
		require.Equal(t, len(want), len(part))
		if len(want) > 0 {
			require.Equal(t, want, part)
		}
	})
}
