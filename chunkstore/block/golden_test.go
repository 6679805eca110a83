package block

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden block fixture")

// goldenULID names the v1 fixture block.
var goldenULID = ulid.MustParse("01JKZZDEN0000000000000000V")

func goldenSeries() []testSeries {
	return []testSeries{
		{lset: labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", "0", "mode", "idle"),
			samples: []testSample{{1000, 10.5}, {16000, 25.5}, {31001, 40.25}, {45999, 55}}},
		{lset: labels.FromStrings("__name__", "node_load1"),
			samples: []testSample{{1000, 0.5}, {16000, staleNaN}, {31000, math.Inf(1)}, {46000, math.Copysign(0, -1)}}},
		{lset: labels.FromStrings("__name__", "up", "job", "node"),
			samples: []testSample{{1000, 1}}},
	}
}

// TestGolden_V1 pins the bytes of every file of a version-1 block and
// checks that this build still reads the fixture (docs/format/block.md).
func TestGolden_V1(t *testing.T) {
	golden := filepath.Join("testdata", "golden", "v1")
	parent := t.TempDir()
	w, err := NewWriter(parent, 0, 60000, WriterOptions{ULID: goldenULID, SegmentSize: 64})
	require.NoError(t, err)
	for _, s := range goldenSeries() {
		require.NoError(t, w.AddSeries(s.lset, encodeChunks(s.samples, 3)))
	}
	meta, err := w.Finish()
	require.NoError(t, err)
	dir := filepath.Join(parent, meta.ULID.String())
	require.NoError(t, WriteTombstones(dir, Tombstones{1: {{16000, 16000}}, 2: {{0, 999}, {2000, 3000}}}))

	files := []string{metaFilename, indexFilename, tombstonesFilename}
	segs, err := os.ReadDir(filepath.Join(dir, chunksDirname))
	require.NoError(t, err)
	require.Len(t, segs, 3)
	for _, s := range segs {
		files = append(files, filepath.Join(chunksDirname, s.Name()))
	}
	gdir := filepath.Join(golden, goldenULID.String())
	checkGolden(t, dir, gdir, files, "v1")

	b, err := Open(gdir, OpenOptions{})
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.Verify())
	requireSameSeries(t, goldenSeries(), readBlock(t, b))
	require.Equal(t, Tombstones{1: {{16000, 16000}}, 2: {{0, 999}, {2000, 3000}}}, b.Tombstones())
	require.Equal(t, Stats{NumSamples: 9, NumSeries: 3, NumChunks: 5}, b.Meta().Stats)
}

// checkGolden compares the block files of dir with the fixture in gdir
// byte for byte (rewriting the fixture first with -update); version names
// the fixture in failure messages.
func checkGolden(t *testing.T, dir, gdir string, files []string, version string) {
	t.Helper()
	if *update {
		require.NoError(t, os.RemoveAll(gdir))
		require.NoError(t, os.MkdirAll(filepath.Join(gdir, chunksDirname), 0o755))
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, f))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(gdir, f), b, 0o644))
		}
	}
	for _, f := range files {
		want, err := os.ReadFile(filepath.Join(gdir, f))
		require.NoError(t, err, "missing golden file; run with -update once for a new version")
		got, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.Equal(t, want, got, "file %s differs from the %s fixture: a format change needs a new version", f, version)
	}
}
