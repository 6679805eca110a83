package walseg

import (
	"encoding/binary"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// replayAll reads every record of dir, copying each.
func replayAll(tb testing.TB, dir string, o ReaderOptions) ([][]byte, ReplayStats, error) {
	tb.Helper()
	if o.Logger == nil {
		o.Logger = zaptest.NewLogger(tb)
	}
	r, err := OpenReader(dir, o)
	if err != nil {
		return nil, ReplayStats{}, err
	}
	defer r.Close()
	var out [][]byte
	for r.Next() {
		out = append(out, append([]byte(nil), r.Record()...))
	}
	return out, r.Stats(), r.Err()
}

// idRecord is a small samples record carrying id in its value bits, so
// tests can check order and uniqueness.
func idRecord(id uint64) []byte {
	return AppendSamples(nil, []RefSample{{Ref: uint32(id % 1000), T: int64(id), V: float64(id)}})
}

// recordID extracts the id of an idRecord.
func recordID(tb testing.TB, rec []byte) uint64 {
	tb.Helper()
	s, err := DecodeSamples(nil, rec)
	require.NoError(tb, err)
	require.Len(tb, s, 1)
	return uint64(s[0].T)
}

// bigRecord is a samples record of n samples (compressible).
func bigRecord(seed, n int) []byte {
	s := make([]RefSample, n)
	for i := range s {
		s[i] = RefSample{Ref: uint32(i), T: int64(1_700_000_000_000 + seed*15000), V: float64(seed*i%97) * 0.25}
	}
	return AppendSamples(nil, s)
}

// writeRecords opens dir, writes recs with Log and closes.
func writeRecords(tb testing.TB, dir string, o Options, recs ...[]byte) {
	tb.Helper()
	if o.Logger == nil {
		o.Logger = zaptest.NewLogger(tb)
	}
	w, err := Open(dir, o)
	require.NoError(tb, err)
	for _, r := range recs {
		require.NoError(tb, w.Log(tb.Context(), r))
	}
	require.NoError(tb, w.Close())
}

// segmentBytes builds a segment file image holding recs, framed as the
// writer would frame them without compression.
func segmentBytes(recs ...[]byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, segmentMagic)
	b = append(b, FormatVersion, 0, 0, 0)
	w := &Writer{opts: Options{CompressMinBytes: -1}, m: &Metrics{}}
	for _, r := range recs {
		b = w.appendFrame(b, r)
	}
	return b
}

// newTestEncoder returns a zstd encoder configured like the writer's.
func newTestEncoder() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
}
