package chunkstore

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// samplesFromBytes turns arbitrary fuzz bytes into a sample sequence: each
// 16 bytes are one (t, v) pair, bit patterns taken verbatim, so every int64
// and every float64 (all NaN payloads included) is reachable. A leading mode
// byte makes timestamps regular-ish so the small buckets get exercised too.
func samplesFromBytes(data []byte) []sample {
	if len(data) == 0 {
		return nil
	}
	mode := data[0]
	data = data[1:]
	var ss []sample
	var t int64
	for len(data) >= 16 {
		raw := int64(binary.LittleEndian.Uint64(data))
		v := binary.LittleEndian.Uint64(data[8:])
		switch mode % 3 {
		case 0: // raw timestamps
			t = raw
		case 1: // small jitter around 15 s
			t += 15000 + int64(int8(raw))
		default: // small deltas of any sign
			t += int64(int16(raw))
		}
		if mode&4 != 0 {
			v &= 0xffff_0000_0000_0000 // values with long trailing zeros
		}
		ss = append(ss, sample{t, v})
		data = data[16:]
	}
	return ss
}

// FuzzChunkRoundTrip: any sample sequence decodes bit-exact, and so does its
// record.
func FuzzChunkRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0xf0, 0x7f})
	seed := []byte{0}
	for _, p := range [][2]uint64{
		{0, 0x7ff0000000000002}, {1 << 63, math.Float64bits(math.Inf(-1))},
		{1<<63 - 1, 0x8000000000000000}, {5, 1}, {4, 0x7ff8000000000001},
	} {
		seed = binary.LittleEndian.AppendUint64(seed, p[0])
		seed = binary.LittleEndian.AppendUint64(seed, p[1])
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		ss := samplesFromBytes(data)
		c := encode(ss)
		got, err := decodeAll(c)
		require.NoError(t, err)
		if len(ss) == 0 {
			require.Empty(t, got)
		} else {
			require.Equal(t, ss, got)
		}
		rec := AppendRecord(nil, c)
		rc, next, err := DecodeRecord(rec, 0)
		require.NoError(t, err)
		require.Equal(t, len(rec), next)
		got, err = decodeAll(rc)
		require.NoError(t, err)
		require.Equal(t, len(ss), len(got))
	})
}

// FuzzChunkDecode: arbitrary payload and header give either an error or
// samples, never a panic or a hang; a clean end means a consistent chunk.
func FuzzChunkDecode(f *testing.F) {
	c := encode(withV(constT(20, 1795475719404, 15023), func(i int) float64 { return float64(i % 3) }))
	f.Add(c.Data, uint32(c.NumSamples), c.MinT, c.MaxT, uint8(EncXOR))
	f.Add([]byte{}, uint32(0), int64(0), int64(0), uint8(EncXOR))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0}, uint32(1), int64(0), int64(0), uint8(EncXOR))
	f.Add([]byte{0xff, 0xff, 0xff}, uint32(1000), int64(-1), int64(1), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, n uint32, minT, maxT int64, enc uint8) {
		orig := append([]byte(nil), data...)
		c := Chunk{Enc: Encoding(enc), NumSamples: int(n), MinT: minT, MaxT: maxT, Data: data}
		it := c.Iterator(nil)
		got := 0
		var last int64
		for it.Next() {
			last, _ = it.At()
			got++
			require.LessOrEqual(t, got, int(n))
		}
		require.Equal(t, string(orig), string(data), "decoder wrote into its input")
		if it.Err() != nil {
			return
		}
		require.Equal(t, int(n), got)
		if n > 0 {
			require.Equal(t, maxT, last)
			// A chunk that decodes cleanly re-encodes to the same bytes,
			// except that an encoder may pick a cheaper value window.
			it.Reset(c)
			var a Appender
			for it.Next() {
				a.Append(it.At())
			}
			rc := a.Chunk()
			require.Equal(t, c.MinT, rc.MinT)
			require.Equal(t, c.MaxT, rc.MaxT)
		}
	})
}

// FuzzRecordDecode: arbitrary bytes and offsets give an error or a chunk
// that lies inside src; never a panic.
func FuzzRecordDecode(f *testing.F) {
	c := encode(withV(constT(20, 1795475719404, 15023), func(i int) float64 { return float64(i) * 1.5 }))
	rec := AppendRecord(nil, c)
	f.Add(rec, 0)
	f.Add(AppendRecord([]byte{1, 2, 3}, Chunk{Enc: 7, Data: []byte{1}}), 3)
	f.Add([]byte{0x80}, 0)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, src []byte, off int) {
		orig := append([]byte(nil), src...)
		c, next, err := DecodeRecord(src, off)
		require.Equal(t, string(orig), string(src), "decoder wrote into its input")
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			require.Zero(t, next)
			return
		}
		require.Greater(t, next, off)
		require.LessOrEqual(t, next, len(src))
		require.LessOrEqual(t, len(c.Data), next-off)
		_, _ = decodeAll(c) // any outcome but a panic
	})
}
