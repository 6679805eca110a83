package block

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGolden_V3 pins the bytes of a version-3 index (the v2 fixture's
// block written with CompressIndex) and checks that its image is the v2
// fixture's index byte for byte (docs/format/block.md §Index version 3).
// The chunk segment, meta.json and tombstones are the v2 fixture's.
func TestGolden_V3(t *testing.T) {
	dir, want := writeGoldenV2(t, WriterOptions{ULID: goldenV2ULID, SharedTimestamps: true, CompressIndex: true})
	gdir := filepath.Join("testdata", "golden", "v3", goldenV2ULID.String())
	// NB: a change of the zstd encoder's output also fails here; the
	// image check below says whether the format itself changed.
	checkGolden(t, dir, gdir, []string{metaFilename, indexFilename, tombstonesFilename, filepath.Join(chunksDirname, "000001")}, "v3")
	v3, err := os.ReadFile(filepath.Join(gdir, indexFilename))
	require.NoError(t, err)
	require.Equal(t, indexVersion3, v3[4])
	img, err := decompressIndex(gdir, v3)
	require.NoError(t, err)
	v2, err := os.ReadFile(filepath.Join("testdata", "golden", "v2", goldenV2ULID.String(), indexFilename))
	require.NoError(t, err)
	require.Equal(t, v2, img, "the v3 image is not the v2 index")
	b, err := Open(gdir, OpenOptions{})
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.Verify())
	requireSameSeries(t, want, readBlock(t, b))
}

// TestIndexV3_LargeStaysV2: an index image above the limit is written as
// version 2, byte for byte the index without CompressIndex.
func TestIndexV3_LargeStaysV2(t *testing.T) {
	old := compressIndexLimit
	t.Cleanup(func() { compressIndexLimit = old })
	for _, limit := range []int{20, 200} { // inside the series section; after it
		compressIndexLimit = limit
		dir, want := writeGoldenV2(t, WriterOptions{ULID: goldenV2ULID, SharedTimestamps: true, CompressIndex: true})
		got, err := os.ReadFile(filepath.Join(dir, indexFilename))
		require.NoError(t, err)
		v2, err := os.ReadFile(filepath.Join("testdata", "golden", "v2", goldenV2ULID.String(), indexFilename))
		require.NoError(t, err)
		require.Equal(t, v2, got, "limit %d", limit)
		b, err := Open(dir, OpenOptions{})
		require.NoError(t, err)
		requireSameSeries(t, want, readBlock(t, b))
		require.NoError(t, b.Close())
	}
}

// TestIndexV3_Corrupt: every damage to a version-3 index is a corruption
// error at open, never a panic or a silently different index.
func TestIndexV3_Corrupt(t *testing.T) {
	dir, _ := writeGoldenV2(t, WriterOptions{ULID: goldenV2ULID, SharedTimestamps: true, CompressIndex: true})
	path := filepath.Join(dir, indexFilename)
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, indexVersion3, good[4])
	refix := func(b []byte) []byte { fixIndexCRCs(b); return b }
	cases := map[string][]byte{
		"truncated":          good[:len(good)-1],
		"frame only":         good[:v3FrameSize-1],
		"flipped byte":       func() []byte { b := bytes.Clone(good); b[len(b)/2] ^= 1; return b }(),
		"reserved":           refix(func() []byte { b := bytes.Clone(good); b[6] = 1; return b }()),
		"image length +1":    refix(func() []byte { b := bytes.Clone(good); b[11]++; return b }()),
		"image length -1":    refix(func() []byte { b := bytes.Clone(good); b[11]--; return b }()),
		"image length huge":  refix(func() []byte { b := bytes.Clone(good); b[8] = 0x7f; return b }()),
		"zstd frame damaged": refix(func() []byte { b := bytes.Clone(good); b[len(b)-6] ^= 0xff; return b }()),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, b, 0o644))
			_, err := Open(dir, OpenOptions{})
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrCorrupt), "%v", err)
		})
	}
}
