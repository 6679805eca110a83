package chunkstore

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecimalRoundTrip: any sample sequence round-trips bit-exact through
// EncDecimal in every layout and through Reencode.
func FuzzDecimalRoundTrip(f *testing.F) {
	f.Add([]byte{})
	seed := []byte{1}
	for i, v := range []float64{0.1, 0.2, math.Float64frombits(0x7ff0000000000002), 0.3, math.Copysign(0, -1), 1e22, 12.75} {
		seed = binary.LittleEndian.AppendUint64(seed, uint64(i))
		seed = binary.LittleEndian.AppendUint64(seed, math.Float64bits(v))
	}
	f.Add(seed)
	f.Add([]byte{2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0xf8, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		ss := samplesFromBytes(data)
		for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
			c := encodeDecimal(t, ss, l)
			got, err := decodeAll(c)
			require.NoError(t, err)
			if len(ss) == 0 {
				require.Empty(t, got)
			} else {
				require.Equal(t, ss, got)
			}
		}
		if len(ss) == 0 {
			return
		}
		// Values are kept bit-exact and in order whatever the timestamps;
		// Reencode only accepts strictly increasing ones.
		ss = strictlyIncreasing(ss)
		out, err := Reencode(nil, []Chunk{encode(ss)}, ReencodeOptions{MaxSamples: 7})
		require.NoError(t, err)
		require.Equal(t, ss, samplesOfChunks(t, out))
	})
}

// FuzzDecimalDecode: arbitrary EncDecimal payloads and headers give an
// error or samples, never a panic, a hang or a write into the input; the
// decoder allocates in proportion to the payload or the bounded count.
func FuzzDecimalDecode(f *testing.F) {
	ss := withV(constT(100, 1795475719404, 15023), func(i int) float64 { return float64(i*i%97) / 10 })
	ss[3].v = 0x7ff0000000000002
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		c := encodeDecimal(f, ss, l)
		f.Add(c.Data, uint32(c.NumSamples), c.MinT, c.MaxT)
	}
	f.Add([]byte{}, uint32(0), int64(0), int64(0))
	f.Add([]byte{0, 0, 0, 0, 0}, uint32(1), int64(0), int64(0))
	f.Add([]byte{1, 0, 0xff, 0xff, 0x3f, 0x28, 0xb5}, uint32(1000), int64(-1), int64(1))
	f.Add([]byte{0, 0, 2, 0, 0, 0x7f}, uint32(3), int64(5), int64(5))
	f.Fuzz(func(t *testing.T, data []byte, n uint32, minT, maxT int64) {
		orig := append([]byte(nil), data...)
		c := Chunk{Enc: EncDecimal, NumSamples: int(n), MinT: minT, MaxT: maxT, Data: data}
		it := c.Iterator(nil)
		got := 0
		var last int64
		for it.Next() {
			last, _ = it.At()
			got++
		}
		require.Equal(t, string(orig), string(data), "decoder wrote into its input")
		// Stale-only mode reads less of the payload: it may accept what
		// the full decode refuses, but never panics, and agrees on the
		// timestamps when both accept.
		so, soErr := decodeStaleOnly(new(Iterator), c)
		require.Equal(t, string(orig), string(data), "stale-only decoder wrote into its input")
		if it.Err() != nil {
			require.ErrorIs(t, it.Err(), ErrCorrupt)
			if soErr != nil {
				require.ErrorIs(t, soErr, ErrCorrupt)
			}
			return
		}
		require.NoError(t, soErr)
		require.Len(t, so, got)
		require.Equal(t, int(n), got)
		if n > 0 {
			require.Equal(t, minT, it.dec.ts[0])
			require.Equal(t, maxT, last)
		}
	})
}
