package chunkstore

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// TestKnownAnswer pins the worked example of docs/format/chunks.md
// §Worked example, bit by bit.
func TestKnownAnswer(t *testing.T) {
	var a Appender
	a.Append(1000, 0)
	a.Append(16000, 0)
	a.Append(31002, 1.5)
	c := a.Chunk()
	require.Equal(t, []byte{0x58, 0x75, 0x00, 0xa2, 0xc4, 0x5f, 0xff}, c.Data)
	require.Equal(t, []byte{
		0x0e,       // body length 14
		0x01,       // EncXOR
		0xd0, 0x0f, // minT 1000 (zigzag 2000)
		0xb2, 0xea, 0x01, // maxT-minT 30002
		0x03,                                     // 3 samples
		0x58, 0x75, 0x00, 0xa2, 0xc4, 0x5f, 0xff, // payload
		0x3b, 0x80, 0x76, 0xa0, // CRC32C
	}, AppendRecord(nil, c))
}

// goldenChunks are the chunks of the v1 golden file. Never change them:
// the file must keep decoding to exactly these samples.
func goldenChunks() [][]sample {
	regular := withV(constT(120, 1767225600000, 15000), func(i int) float64 { return float64(i * 7) })
	jitter := []int64{1795475719404, 1795475734424, 1795475749451, 1795475764474, 1795475779503, 1795475794540}
	specials := withV(constT(8, -5, 3), func(i int) float64 {
		return math.Float64frombits([]uint64{0x7ff0000000000002, 0x7ff8000000000001, 0x7ff0000000000000,
			0xfff0000000000000, 0x8000000000000000, 1, 0x3ff0000000000000, 0}[i])
	})
	extremes := withV([]int64{math.MinInt64, math.MaxInt64, 0, -1, math.MaxInt64}, func(i int) float64 { return float64(i) / 3 })
	return [][]sample{
		nil,
		{{42, math.Float64bits(2.5)}},
		regular,
		withV(jitter, func(i int) float64 { return 0.36 + float64(i)*0.04 }),
		specials,
		extremes,
	}
}

// TestGolden_V1 checks that the bytes written for goldenChunks never
// change and that the stored file still decodes to them.
func TestGolden_V1(t *testing.T) {
	var buf []byte
	for _, ss := range goldenChunks() {
		buf = AppendRecord(buf, encode(ss))
	}
	path := filepath.Join("testdata", "golden", "records_v1.bin")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, buf, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, want, buf, "encoder output changed: a format change needs a new encoding and a new golden file")
	off := 0
	for i, ss := range goldenChunks() {
		c, next, err := DecodeRecord(want, off)
		require.NoError(t, err, "record %d", i)
		got, err := decodeAll(c)
		require.NoError(t, err, "record %d", i)
		if len(ss) == 0 {
			require.Empty(t, got)
		} else {
			require.Equal(t, ss, got, "record %d", i)
		}
		off = next
	}
	require.Equal(t, len(want), off)
}
