package chunkstore

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// decodeStaleOnlyFrom iterates c from from with ResetFromStaleOnly.
func decodeStaleOnlyFrom(it *Iterator, c Chunk, from int64) ([]sample, error) {
	it.SetStaleOnly(true)
	it.ResetFromStaleOnly(c, from)
	var out []sample
	for it.Next() {
		t, v := it.At()
		out = append(out, sample{t, math.Float64bits(v)})
	}
	return out, it.Err()
}

func TestIterator_ResetFromStaleOnly(t *testing.T) {
	ts0 := constT(300, 1795475719404, 15000)
	plain := withV(ts0, func(i int) float64 { return float64(i*i%97) / 10 })
	stale := withV(ts0, func(i int) float64 { return float64(i*i%97) / 10 })
	stale[7].v, stale[299].v = staleBits, staleBits
	var it Iterator
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		for name, ss := range map[string][]sample{"plain": plain, "stale": stale} {
			t.Run(fmt.Sprintf("shared/layout=%d/%s", l, name), func(t *testing.T) {
				tc, vc, ok := encodeShared(t, ss, l, 3)
				require.True(t, ok)
				cts, err := DecodeTimestamps(nil, tc)
				require.NoError(t, err)
				vc.Timestamps = cts
				for _, from := range []int64{math.MinInt64, ss[150].t, ss[150].t + 1, ss[299].t + 1} {
					got, err := decodeStaleOnlyFrom(&it, vc, from)
					require.NoError(t, err)
					k := 0
					for k < len(ss) && ss[k].t < from {
						k++
					}
					want := ss[k:]
					require.Len(t, got, len(want), "from %d", from)
					for i, s := range want {
						require.Equal(t, s.t, got[i].t)
						if s.v == staleBits {
							require.Equal(t, uint64(staleBits), got[i].v, "stale marker %d", i)
						} else {
							require.NotEqual(t, uint64(staleBits), got[i].v)
						}
					}
				}
				require.Equal(t, name == "plain", HoldsNoNaN(vc))
				if name == "plain" {
					// Not decoded: damage in the body goes unseen, and
					// the values read 0.
					bad := vc
					bad.Data = append([]byte(nil), vc.Data...)
					for i := 2; i < len(bad.Data); i++ {
						bad.Data[i] ^= 0x5a
					}
					got, err := decodeStaleOnlyFrom(&it, bad, math.MinInt64)
					require.NoError(t, err)
					require.Len(t, got, len(ss))
					require.Zero(t, got[1].v)
				}
			})
		}
	}
	t.Run("column mismatch falls back and fails", func(t *testing.T) {
		tc, vc, ok := encodeShared(t, plain, layoutZstd, 3)
		require.True(t, ok)
		cts, err := DecodeTimestamps(nil, tc)
		require.NoError(t, err)
		vc.Timestamps = cts[:len(cts)-1]
		_, err = decodeStaleOnlyFrom(&it, vc, math.MinInt64)
		require.ErrorIs(t, err, ErrCorrupt)
	})
	t.Run("mode off decodes values", func(t *testing.T) {
		tc, vc, ok := encodeShared(t, plain, layoutZstd, 3)
		require.True(t, ok)
		cts, err := DecodeTimestamps(nil, tc)
		require.NoError(t, err)
		vc.Timestamps = cts
		it.SetStaleOnly(false)
		it.ResetFromStaleOnly(vc, math.MinInt64)
		i := 0
		for it.Next() {
			tt, v := it.At()
			require.Equal(t, plain[i], sample{tt, math.Float64bits(v)})
			i++
		}
		require.NoError(t, it.Err())
		require.Equal(t, len(plain), i)
	})
}

func TestHoldsNoNaN(t *testing.T) {
	ss := withV(constT(200, 1795475719404, 15000), func(i int) float64 { return float64(i) / 4 })
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		require.True(t, HoldsNoNaN(encodeDecimal(t, ss, l)))
		nan := append([]sample(nil), ss...)
		nan[5].v = math.Float64bits(math.NaN())
		require.False(t, HoldsNoNaN(encodeDecimal(t, nan, l)))
	}
	require.False(t, HoldsNoNaN(encode(ss)), "XOR: cannot tell from a header")
	require.False(t, HoldsNoNaN(Chunk{Enc: EncDecimal, NumSamples: 1}), "no header")
}
