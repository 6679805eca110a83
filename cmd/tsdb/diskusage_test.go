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
	require.Equal(t, map[string]int64{"blocks": 1024, "wal": 150, "chunks_head": 7, "other": 13}, diskUsage(dir))
}
