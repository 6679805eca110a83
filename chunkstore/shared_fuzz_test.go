package chunkstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzTimestampsRoundTrip: any timestamp sequence round-trips through an
// EncTimestamps column in both layouts, and any sample sequence through a
// column plus an EncDecimalShared chunk.
func FuzzTimestampsRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		ss := samplesFromBytes(data)
		for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
			requireSharedRoundTrip(t, ss, l)
		}
	})
}

// FuzzTimestampsDecode: arbitrary EncTimestamps payloads and headers give
// an error or exactly n timestamps ending at maxT, never a panic or a
// write into the input.
func FuzzTimestampsDecode(f *testing.F) {
	ss := withV(constT(100, 1795475719404, 15023), func(i int) float64 { return 0 })
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		tc, _, _ := encodeShared(f, ss, l, 0)
		f.Add(tc.Data, uint32(tc.NumSamples), tc.MinT, tc.MaxT)
	}
	f.Add([]byte{}, uint32(0), int64(0), int64(0))
	f.Add([]byte{0, 2}, uint32(2), int64(0), int64(1))
	f.Add([]byte{1, 0xff, 0xff, 0x3f, 0x28, 0xb5}, uint32(1000), int64(-1), int64(1))
	f.Fuzz(func(t *testing.T, data []byte, n uint32, minT, maxT int64) {
		in := append([]byte{}, data...)
		c := Chunk{Enc: EncTimestamps, NumSamples: int(n % (MaxDecimalSamples + 10)), MinT: minT, MaxT: maxT, Data: data}
		ts, err := DecodeTimestamps(nil, c)
		require.Equal(t, in, data, "decoder wrote into its input")
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		require.Len(t, ts, c.NumSamples)
		if len(ts) > 0 {
			require.Equal(t, minT, ts[0])
			require.Equal(t, maxT, ts[len(ts)-1])
		}
	})
}

// FuzzSharedDecode: arbitrary EncDecimalShared payloads with a valid
// timestamp column give an error or exactly n samples, never a panic or a
// write into the input.
func FuzzSharedDecode(f *testing.F) {
	ss := withV(constT(100, 1795475719404, 15023), func(i int) float64 { return float64(i*i%97) / 10 })
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		_, vc, ok := encodeShared(f, ss, l, 300)
		require.True(f, ok)
		f.Add(vc.Data, uint16(vc.NumSamples))
	}
	f.Add([]byte{}, uint16(0))
	f.Add([]byte{0, 0, 2}, uint16(1))
	f.Add([]byte{0x80}, uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		in := append([]byte{}, data...)
		ts := make([]int64, n)
		for i := range ts {
			ts[i] = int64(i) * 15000
		}
		c := Chunk{Enc: EncDecimalShared, NumSamples: int(n), Data: data, Timestamps: ts}
		if n > 0 {
			c.MinT, c.MaxT = ts[0], ts[n-1]
		}
		got, err := decodeAll(c)
		require.Equal(t, in, data, "decoder wrote into its input")
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		require.Len(t, got, int(n))
	})
}
