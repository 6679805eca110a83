package chunkstore

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// sharedRCGoldenChunks are the chunks of the EncDecimalSharedRC golden
// file, one per feature of the payload; each is encoded with range coding
// forced (rcForce), so that every one is range-coded. Never change them:
// the file must keep decoding to exactly these samples.
func sharedRCGoldenChunks() [][]sample {
	ts := make([]int64, 480)
	for i := range ts {
		ts[i] = 1795475719404 + int64(i)*15020 + int64(i*i%21)
	}
	const stale = 0x7ff0000000000002
	return [][]sample{
		withV(ts[:5], func(i int) float64 { return []float64{1.2, 1.5, 1.1, 1.4, 1.3}[i] }),              // level model (the worked example)
		withV(ts, func(int) float64 { return 1795475719 }),                                               // constant: empty section
		withV(ts, func(i int) float64 { return float64(1200000+(i*7919)%90001) / 1e9 }),                  // level model, noise
		withV(ts, func(i int) float64 { return float64(i*i*7+(i*31)%50*i) / 100 }),                       // dod model
		withV(ts, func(i int) float64 { return float64((1<<20 + (i*i)%300) * 4096) }),                    // delta model, divisor
		withV(ts, func(i int) float64 { return float64(19724456+i*i*997+(i*7919)%99999) / 1000 / 1000 }), // near model: C stream
		withV(ts, func(i int) float64 { // exceptions
			if x := []float64{math.Float64frombits(stale), math.Inf(1), math.Copysign(0, -1), math.Inf(-1)}; i%40 < len(x) {
				return x[i%40]
			}
			return float64(i%17) / 2
		}),
	}
}

// TestGolden_SharedRC checks that the stored EncDecimalSharedRC records
// decode to sharedRCGoldenChunks and that the encoder still writes them
// byte for byte (no zstd is involved). Regenerate with -run
// TestGolden_SharedRC -update (only for a new file: a format change needs
// a new encoding).
func TestGolden_SharedRC(t *testing.T) {
	var buf []byte
	var ends []int
	var cols [][]int64
	for i, ss := range sharedRCGoldenChunks() {
		ts, c, ok := encodeSharedRC(t, ss, true, uint64(i))
		require.True(t, ok, "chunk %d", i)
		require.Equal(t, EncDecimalSharedRC, c.Enc, "chunk %d", i)
		buf = AppendRecord(buf, c)
		ends = append(ends, len(buf))
		cols = append(cols, ts)
	}
	path := filepath.Join("testdata", "golden", "decimal_shared_rc_v1.bin")
	if *update {
		require.NoError(t, os.WriteFile(path, buf, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	off := 0
	for i, ss := range sharedRCGoldenChunks() {
		c, next, err := DecodeRecord(want, off)
		require.NoError(t, err, "record %d", i)
		require.Equal(t, EncDecimalSharedRC, c.Enc)
		require.Equal(t, want[off:next], buf[off:ends[i]], "record %d: encoder output changed: a format change needs a new encoding", i)
		col, err := SharedColumn(c)
		require.NoError(t, err)
		require.Equal(t, uint64(i), col)
		c.Timestamps = cols[i]
		got, err := decodeAll(c)
		require.NoError(t, err, "record %d", i)
		require.Equal(t, ss, got, "record %d", i)
		off = next
	}
	require.Equal(t, len(want), off)
}

// TestSharedRCKnownAnswer pins the worked example of docs/format/chunks.md
// §EncDecimalSharedRC payload, byte by byte.
func TestSharedRCKnownAnswer(t *testing.T) {
	ss := sharedRCGoldenChunks()[0]
	_, c, ok := encodeSharedRC(t, ss, true, 7)
	require.True(t, ok)
	require.Equal(t, []byte{
		0x07,       // col 7
		0x09,       // hdr: e = 1, level model
		0x1a,       // base 13 (zigzag 26)
		0x02,       // 2 range-coded bytes
		0x02,       // centre of the value stream: bit length 2
		0x98, 0xa5, // range-coded bytes (zeros after them implied); no plain bits
	}, c.Data)
	require.Equal(t, []byte{
		0x12,                               // body length 18
		0x05,                               // EncDecimalSharedRC
		0xd8, 0x93, 0x8a, 0xab, 0xc1, 0x68, // minT 1795475719404
		0xc0, 0xd5, 0x03, // maxT-minT 60096
		0x05,                                     // 5 samples
		0x07, 0x09, 0x1a, 0x02, 0x02, 0x98, 0xa5, // payload
		0x3a, 0x7a, 0xcc, 0xc2, // CRC32C
	}, AppendRecord(nil, c))
}
