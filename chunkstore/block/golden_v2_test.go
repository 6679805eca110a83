package block

import (
	"path/filepath"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// goldenV2ULID names the v2 fixture block.
var goldenV2ULID = ulid.MustParse("01JKZZDEN0000000000000002V")

// TestGolden_V2 pins the bytes of a version-2 block (index with a
// timestamps section; two series sharing one column, one self-contained)
// and checks that this build reads the fixture (docs/format/block.md
// §Index version 2).
func TestGolden_V2(t *testing.T) {
	golden := filepath.Join("testdata", "golden", "v2")
	dir, want := writeGoldenV2(t, WriterOptions{ULID: goldenV2ULID, SharedTimestamps: true})
	files := []string{metaFilename, indexFilename, tombstonesFilename, filepath.Join(chunksDirname, "000001")}
	gdir := filepath.Join(golden, goldenV2ULID.String())
	checkGolden(t, dir, gdir, files, "v2")
	b, err := Open(gdir, OpenOptions{})
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.Verify())
	requireSameSeries(t, want, readBlock(t, b))
}

// writeGoldenV2 writes the block of the v2 fixture with options o and
// returns its directory and series.
func writeGoldenV2(t *testing.T, o WriterOptions) (string, []testSeries) {
	t.Helper()
	parent := t.TempDir()
	w, err := NewWriter(parent, 0, 60000, o)
	require.NoError(t, err)
	var e chunkstore.DecimalEncoder
	ts := []int64{1000, 16000, 31002, 46001}
	tc, err := e.EncodeTimestamps(nil, ts)
	require.NoError(t, err)
	col, err := w.AddTimestamps(tc)
	require.NoError(t, err)
	want := []testSeries{
		{lset: labels.FromStrings("__name__", "a"), samples: []testSample{{1000, 0.36}, {16000, 0.40}, {31002, 0.44}, {46001, 0.48}}},
		{lset: labels.FromStrings("__name__", "b"), samples: []testSample{{1000, 7}, {16000, staleNaN}, {31002, 7}, {46001, 8}}},
	}
	for _, s := range want {
		vs := make([]float64, len(s.samples))
		for i, smp := range s.samples {
			vs[i] = smp.v
		}
		c, ok, err := e.EncodeShared(nil, col, ts, vs)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, w.AddSeries(s.lset, []chunkstore.Chunk{c}))
	}
	own := testSeries{lset: labels.FromStrings("__name__", "c"), samples: []testSample{{5, 1}, {6, 2}}}
	require.NoError(t, w.AddSeries(own.lset, encodeChunks(own.samples, 10)))
	want = append(want, own)
	meta, err := w.Finish()
	require.NoError(t, err)
	return filepath.Join(parent, meta.ULID.String()), want
}
