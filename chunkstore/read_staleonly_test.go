package chunkstore

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHoldsNoNaN(t *testing.T) {
	ss := withV(constT(200, 1795475719404, 15000), func(i int) float64 { return float64(i) / 4 })
	stale := append([]sample(nil), ss...)
	stale[5].v = staleBits
	nan := append([]sample(nil), ss...)
	nan[7].v = math.Float64bits(math.NaN())
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		require.True(t, HoldsNoNaN(encodeDecimal(t, ss, l)))
		require.False(t, HoldsNoNaN(encodeDecimal(t, stale, l)))
		require.False(t, HoldsNoNaN(encodeDecimal(t, nan, l)))
		_, vc, ok := encodeShared(t, ss, l, 300) // a two-byte column reference
		require.True(t, ok)
		require.True(t, HoldsNoNaN(vc))
		_, vc, ok = encodeShared(t, stale, l, 300)
		require.True(t, ok)
		require.False(t, HoldsNoNaN(vc))
	}
	require.False(t, HoldsNoNaN(encode(ss)), "XOR: cannot tell from a header")
	require.False(t, HoldsNoNaN(Chunk{Enc: EncDecimal, NumSamples: 1}), "no header")
	require.False(t, HoldsNoNaN(Chunk{Enc: EncDecimalShared, NumSamples: 1, Data: []byte{0x80}}), "bad column reference")
}

func TestIterator_DecodedNoNaN(t *testing.T) {
	ss := withV(constT(200, 1795475719404, 15000), func(i int) float64 { return float64(i) / 4 })
	nan := append([]sample(nil), ss...)
	nan[7].v = math.Float64bits(math.NaN())
	var it Iterator
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		it.Reset(encodeDecimal(t, ss, l))
		require.True(t, it.DecodedNoNaN())
		it.Reset(encodeDecimal(t, nan, l))
		require.False(t, it.DecodedNoNaN(), "an exception")
		it.SetStaleOnly(true)
		it.Reset(encodeDecimal(t, ss, l))
		require.False(t, it.DecodedNoNaN(), "stale-only: values not decoded")
		it.SetStaleOnly(false)
	}
	it.Reset(encode(ss))
	require.False(t, it.DecodedNoNaN(), "XOR")
}
