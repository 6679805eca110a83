package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDiskUsage_ByKind(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, n int) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, make([]byte, n), 0o644))
	}
	write("shards.json", 10)
	write("shards/00/wal/00000001", 100)
	write("shards/01/wal/00000001", 50)
	write("shards/00/blocks/01ABC/chunks/000001", 1000)
	write("shards/00/blocks/01ABC/index", 24)
	write("shards/01/chunks_head/000001", 7)
	write("shards/01/odd", 3)
	// A sparse file: 64 MiB long, 1 MiB written; it counts what it takes.
	f, err := os.Create(filepath.Join(dir, "shards/01/chunks_head/000002"))
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 1<<20))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(64<<20))
	require.NoError(t, f.Close())

	got := diskUsage(dir)
	require.Len(t, got, 4)
	// Allocated sizes round up to file system blocks (4 KiB here; allow 64).
	within := func(kind string, files int, written int64) {
		require.GreaterOrEqual(t, got[kind], written, kind)
		require.LessOrEqual(t, got[kind], written+int64(files)*64<<10, kind)
	}
	within("blocks", 2, 1024)
	within("wal", 2, 150)
	within("other", 2, 13)
	within("chunks_head", 2, 7+1<<20)
}
