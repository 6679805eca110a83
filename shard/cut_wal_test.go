package shard

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/walseg"
)

// cutReadyShard returns a shard whose head spans two block ranges of 100ms,
// so a head cut is due.
func cutReadyShard(t *testing.T, o Options) *Shard {
	t.Helper()
	o.BlockRange = 100 * time.Millisecond
	s := openShard(t, t.TempDir(), o)
	a := labels.FromStrings("__name__", "a")
	for ts := int64(0); ts <= 200; ts += 10 {
		require.NoError(t, s.apply(msg(a, smp(ts, float64(ts)))).Err)
	}
	return s
}

// TestShard_HeadCutPlanDoesNotWaitForFsync: planning a head cut on the shard
// goroutine seals the WAL segment without waiting for its fsync; the
// worker's job does the fsync before it checkpoints. Before the fix the
// shard goroutine called Rotate, which waits for an fsync (in SyncNone mode
// the only fsyncs are those asked for, so the count shows who waited).
func TestShard_HeadCutPlanDoesNotWaitForFsync(t *testing.T) {
	s := cutReadyShard(t, Options{WAL: walseg.Options{Sync: walseg.SyncNone}})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	before := s.walM.Fsyncs.Load()
	j, ok := s.planHeadCut(false)
	require.True(t, ok)
	require.Equal(t, before, s.walM.Fsyncs.Load(), "the shard goroutine did not fsync")
	apply, err := j.run(context.Background())
	require.NoError(t, err)
	require.NoError(t, apply(s))
	require.Greater(t, s.walM.Fsyncs.Load(), before, "the worker fsynced the sealed segment")
	require.Len(t, s.blocks, 1)
}

// TestShard_FailedSealFailsShard: a head cut whose WAL seal fails (the
// writer is closed or poisoned) puts the shard in its failed state, counted
// and reported by Err, instead of being logged and skipped (before the fix
// Err stayed nil and appends went on).
func TestShard_FailedSealFailsShard(t *testing.T) {
	s := cutReadyShard(t, Options{})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	require.NoError(t, s.wal.Close())
	_, ok := s.planHeadCut(false)
	require.False(t, ok)
	require.ErrorIs(t, s.Err(), ErrFailed)
	require.ErrorIs(t, s.Err(), walseg.ErrClosed)
	require.Equal(t, uint64(1), s.m.BackgroundErrors.Load())
	r := s.apply(msg(labels.FromStrings("__name__", "a"), smp(300, 1)))
	require.ErrorIs(t, r.Err, ErrFailed, "a failed shard refuses appends")
}
