package chunkstore

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// decimalGoldenChunks are the chunks of the EncDecimal golden file, one per
// feature of the format. Never change them: the file must keep decoding to
// exactly these samples.
func decimalGoldenChunks() []struct {
	ss     []sample
	layout decimalLayouts
} {
	jitter := []int64{1795475719404, 1795475734424, 1795475749451, 1795475764474, 1795475779503, 1795475794540}
	long := make([]int64, 600)
	for i := range long {
		long[i] = 1795475719404 + int64(i)*15020 + int64(i*i%21)
	}
	return []struct {
		ss     []sample
		layout decimalLayouts
	}{
		{[]sample{{42, math.Float64bits(2.5)}}, layoutPacked},
		{withV(jitter[:2], func(i int) float64 { return float64(i) }), layoutPacked},
		{withV(jitter, func(i int) float64 { return float64(36+4*i) / 100 }), layoutPacked},                                      // dod model
		{withV(jitter, func(i int) float64 { return float64(i*i%5) / 10 }), layoutPacked},                                        // delta model
		{withV(jitter, func(i int) float64 { return []float64{1, math.NaN(), 2, math.Copysign(0, -1), 3, 4}[i] }), layoutPacked}, // exceptions
		{withV(jitter, func(i int) float64 { return float64(1<<30 + 4096*(i*i%7)) }), layoutPacked},                              // divisor
		{withV(jitter, func(i int) float64 { return float64(19724456+i*i*997) / 1000 / 1000 }), layoutPacked},                    // near model
		{withV(long, func(i int) float64 { return float64(i*i%1000) / 100 }), layoutZstd},
	}
}

// TestGolden_Decimal checks that the stored EncDecimal records still decode
// to decimalGoldenChunks and that the packed layout's bytes never change.
// (zstd's output may change with the library version, so zstd records are
// only decoded.) Regenerate with -run TestGolden_Decimal -update.
func TestGolden_Decimal(t *testing.T) {
	var buf []byte
	var ends []int
	for _, g := range decimalGoldenChunks() {
		c := encodeDecimal(t, g.ss, g.layout)
		require.Equal(t, g.layout == layoutZstd, c.Data[0]&decFlagZstd != 0)
		buf = AppendRecord(buf, c)
		ends = append(ends, len(buf))
	}
	path := filepath.Join("testdata", "golden", "decimal_v1.bin")
	if *update {
		require.NoError(t, os.WriteFile(path, buf, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	off := 0
	for i, g := range decimalGoldenChunks() {
		c, next, err := DecodeRecord(want, off)
		require.NoError(t, err, "record %d", i)
		require.Equal(t, EncDecimal, c.Enc)
		if g.layout == layoutPacked {
			require.Equal(t, want[off:next], buf[off:ends[i]], "record %d: encoder output changed: a format change needs a new encoding", i)
		}
		got, err := decodeAll(c)
		require.NoError(t, err, "record %d", i)
		require.Equal(t, g.ss, got, "record %d", i)
		off = next
	}
	require.Equal(t, len(want), off)
}

// TestDecimalKnownAnswer pins the worked example of docs/format/chunks.md
// §EncDecimal payload, byte by byte.
func TestDecimalKnownAnswer(t *testing.T) {
	e := DecimalEncoder{layouts: layoutPacked}
	c, ok, err := e.Encode(nil, []int64{1000, 16000, 31002, 46001}, []float64{0.36, 0.40, 0.44, 0.48})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []byte{0x12, 0xb0, 0xea, 0x01, 0x48, 0x08, 0x07, 0x28, 0x00}, c.Data)
	require.Equal(t, []byte{
		0x10,       // body length 16
		0x02,       // EncDecimal
		0xd0, 0x0f, // minT 1000
		0xc9, 0xdf, 0x02, // maxT-minT 45001
		0x04,                                                 // 4 samples
		0x12, 0xb0, 0xea, 0x01, 0x48, 0x08, 0x07, 0x28, 0x00, // payload
		0x7b, 0xd6, 0x52, 0x02, // CRC32C
	}, AppendRecord(nil, c))
}
