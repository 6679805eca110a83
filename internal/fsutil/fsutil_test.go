package fsutil

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name  string
		prior []byte // nil: file absent before
		data  []byte
	}{
		{name: "create", data: []byte("hello")},
		{name: "replace", prior: []byte("old content that is longer"), data: []byte("new")},
		{name: "empty", prior: []byte("x"), data: []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if tc.prior != nil {
				require.NoError(t, os.WriteFile(p, tc.prior, 0o644))
			}
			require.NoError(t, WriteFile(p, tc.data, 0o644))
			got, err := os.ReadFile(p)
			require.NoError(t, err)
			require.Equal(t, tc.data, got)
			_, err = os.Stat(p + TmpSuffix)
			require.True(t, os.IsNotExist(err), "temporary file left behind")
		})
	}
}

func TestRenameAndSync(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a"+TmpSuffix)
	require.NoError(t, os.Mkdir(src, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "m"), []byte("x"), 0o644))
	require.NoError(t, SyncFile(filepath.Join(src, "m")))
	require.NoError(t, SyncDir(src))
	require.NoError(t, Rename(src, filepath.Join(dir, "a")))
	_, err := os.Stat(filepath.Join(dir, "a", "m"))
	require.NoError(t, err)
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	require.Error(t, SyncDir(missing))
	require.Error(t, SyncFile(missing))
	require.Error(t, Rename(missing, filepath.Join(dir, "b")))
	require.Error(t, WriteFile(filepath.Join(missing, "f"), nil, 0o644))
}
