package loadgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
)

// TestReadCaptureFile: a plain and a zstd-compressed file of the same
// capture parse to the same Capture; a missing file, a damaged stream and
// a bad capture are errors naming the file.
func TestReadCaptureFile(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "c.prom")
	require.NoError(t, os.WriteFile(plain, []byte(smallCapture), 0o644))
	enc, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	z := enc.EncodeAll([]byte(smallCapture), nil)
	zst := filepath.Join(dir, "c.prom.zst")
	require.NoError(t, os.WriteFile(zst, z, 0o644))

	want, err := ParseCapture(strings.NewReader(smallCapture))
	require.NoError(t, err)
	for _, p := range []string{plain, zst} {
		got, err := ReadCaptureFile(p)
		require.NoError(t, err, p)
		require.Equal(t, want, got, p)
	}

	_, err = ReadCaptureFile(filepath.Join(dir, "absent.prom"))
	require.ErrorContains(t, err, "absent.prom")
	bad := filepath.Join(dir, "bad.prom.zst")
	require.NoError(t, os.WriteFile(bad, z[:len(z)/2], 0o644))
	_, err = ReadCaptureFile(bad)
	require.ErrorContains(t, err, "bad.prom.zst")
	// Compressed but not meant to be: the raw bytes are no capture.
	raw := filepath.Join(dir, "raw.prom")
	require.NoError(t, os.WriteFile(raw, z, 0o644))
	_, err = ReadCaptureFile(raw)
	require.ErrorContains(t, err, "raw.prom")
}

// TestReadCaptureFile_Repository: the 2 h capture the repository ships
// parses into whole scrapes of the real node_exporter's 507 series.
func TestReadCaptureFile_Repository(t *testing.T) {
	p := filepath.Join("..", "perf", "testdata", "node_exporter_2h.prom.zst")
	if _, err := os.Stat(p); err != nil {
		t.Skip(err)
	}
	c, err := ReadCaptureFile(p)
	require.NoError(t, err)
	require.Equal(t, 507, c.Series())
	require.Nil(t, c.present, "every series in every scrape")
	require.GreaterOrEqual(t, c.Scrapes(), 40)
}
