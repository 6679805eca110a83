package chunkstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzSharedRCRoundTrip: any sample sequence round-trips bit-exact
// through a range-coded shared chunk (forced) over its column.
func FuzzSharedRCRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		requireSharedRCRoundTrip(t, samplesFromBytes(data))
	})
}

// FuzzSharedRCDecode: arbitrary EncDecimalSharedRC payloads with a valid
// timestamp column give an ErrCorrupt error or exactly n samples, never a
// panic or a write into the input.
func FuzzSharedRCDecode(f *testing.F) {
	for i, ss := range sharedRCGoldenChunks() {
		if len(ss) > 200 {
			ss = ss[:200]
		}
		_, vc, ok := encodeSharedRC(f, ss, true, uint64(i))
		require.True(f, ok)
		f.Add(vc.Data, uint16(vc.NumSamples))
	}
	f.Add([]byte{}, uint16(0))
	f.Add([]byte{0, 9, 0, 0}, uint16(3))
	f.Add([]byte{0, 9, 0, 4, 0x41, 0, 0, 0, 0}, uint16(60000))
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		in := append([]byte{}, data...)
		ts := make([]int64, n)
		for i := range ts {
			ts[i] = int64(i) * 15000
		}
		c := Chunk{Enc: EncDecimalSharedRC, NumSamples: int(n), Data: data, Timestamps: ts}
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
