package vfs

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeNew(t *testing.T, m *MemFS, name, data string, sync bool) {
	t.Helper()
	f, err := m.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	require.NoError(t, err)
	_, err = f.Write([]byte(data))
	require.NoError(t, err)
	if sync {
		require.NoError(t, f.Sync())
	}
	require.NoError(t, f.Close())
}

// TestMemFS_PowerCut: what survives Restart is exactly what was fsynced,
// with directory entries only after a directory fsync.
func TestMemFS_PowerCut(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		m := NewMemFS(seed)
		require.NoError(t, m.MkdirAll("/d", 0o755))
		require.NoError(t, m.SyncDir("/"))
		writeNew(t, m, "/d/synced", "abc", true)
		writeNew(t, m, "/d/unsynced", "xyz", false)
		writeNew(t, m, "/d/old", "old", true)
		require.NoError(t, m.SyncDir("/d"))
		writeNew(t, m, "/d/nodirsync", "q", true)
		require.NoError(t, m.Rename("/d/old", "/d/new")) // no dir sync after
		m.Restart()

		b, err := ReadFile(m, "/d/synced")
		require.NoError(t, err)
		require.Equal(t, "abc", string(b))
		b, err = ReadFile(m, "/d/unsynced")
		require.NoError(t, err)
		require.Contains(t, []string{"", "x", "xy", "xyz"}, string(b), "at most a prefix of unsynced appends")
		_, err = m.Stat("/d/nodirsync")
		require.ErrorIs(t, err, os.ErrNotExist, "a created entry needs a directory fsync")
		_, err = m.Stat("/d/new")
		require.ErrorIs(t, err, os.ErrNotExist, "a rename needs a directory fsync")
		b, err = ReadFile(m, "/d/old")
		require.NoError(t, err)
		require.Equal(t, "old", string(b))
	}
}

func TestMemFS_CrashAfterAndDropSyncs(t *testing.T) {
	m := NewMemFS(1)
	require.NoError(t, m.MkdirAll("/d", 0o755))
	require.NoError(t, m.SyncDir("/"))
	m.CrashAfter(2)
	f, err := m.OpenFile("/d/f", os.O_WRONLY|os.O_CREATE, 0o644) // op 1
	require.NoError(t, err)
	_, err = f.Write([]byte("a")) // op 2: the cut
	require.ErrorIs(t, err, ErrCrashed)
	require.ErrorIs(t, f.Sync(), ErrCrashed)
	require.True(t, m.Crashed())
	m.Restart()
	_, err = m.Stat("/d/f")
	require.ErrorIs(t, err, os.ErrNotExist)

	m.SetDropSyncs(true)
	writeNew(t, m, "/d/g", "data", true)
	require.NoError(t, m.SyncDir("/d"))
	m.Restart()
	_, err = m.Stat("/d/g")
	require.ErrorIs(t, err, os.ErrNotExist, "with syncs dropped nothing is durable")
}
