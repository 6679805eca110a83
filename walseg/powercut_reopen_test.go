package walseg

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/internal/vfs"
)

// Power cuts after a reopen. Open defers the fsyncs of its new segment,
// of that segment's directory entry and of the seal of the previous run's
// last segment to the writer's first fsync (openFirstSegment), so these
// rounds cut the second run of a writer over a WAL the first run left,
// anywhere from its Open on, and require after the reboot:
//
//   - every record of the first run (all acknowledged under SyncAlways and
//     closed) and every acknowledged record of the second (per the mode, as
//     in TestPowerCut), in order, once;
//   - no segment reported missing: the seal of the previous segment never
//     names a segment that a cut can lose;
//   - when the second run's first call was a Sync with no record (what a
//     head snapshot of an unchanged head does before it points replay at
//     Open's segment) and it returned, Open's segment exists.
//
// TestPowerCut_ReopenFailsWithoutDirSync shows that the rounds catch a
// writer whose deferred directory fsync does nothing.

// reopenRound runs one round; cutAt 0 cuts only after the second Close.
// knob, if set, is applied to the file system after the first run.
func reopenRound(t *testing.T, seed uint64, mode SyncMode, cutAt int, emptySync bool, knob func(*vfs.MemFS)) (powerCutResult, error) {
	t.Helper()
	const first = 30
	m := vfs.NewMemFS(seed)
	require.NoError(t, m.MkdirAll("/wal", 0o755))
	require.NoError(t, m.SyncDir("/"))
	o := Options{FS: m, Sync: SyncAlways, SegmentSize: 256, CompressMinBytes: -1, Logger: zap.NewNop()}
	w, err := Open("/wal", o)
	require.NoError(t, err)
	ctx := context.Background()
	res := powerCutResult{seqs: map[uint64]uint64{}}
	for id := uint64(0); id < first; id++ {
		require.NoError(t, w.Log(ctx, idRecord(id)))
		res.acked = append(res.acked, id)
	}
	require.NoError(t, w.Close())
	segsBefore, err := listSegments(m, "/wal")
	require.NoError(t, err)
	openSeg := segsBefore[len(segsBefore)-1] + 1

	if knob != nil {
		knob(m)
	}
	if cutAt > 0 {
		m.CrashAfter(cutAt)
	}
	o.Sync = mode
	emptySynced := false
	if w, err = Open("/wal", o); err == nil {
		if emptySync {
			emptySynced = w.Sync(ctx) == nil
		}
		for id := uint64(first); id < powerCutRecords; id++ {
			seq, err := w.Write(idRecord(id))
			if err == nil {
				err = w.WaitDurable(ctx, seq)
			}
			if err != nil {
				break
			}
			res.seqs[id] = seq
			res.acked = append(res.acked, id)
			if id == first+20 {
				if _, err := w.Rotate(ctx); err != nil {
					break
				}
			}
		}
		_ = w.Close()
		w.mu.Lock()
		res.syncedSeq = w.mu.syncedSeq
		w.mu.Unlock()
	}
	for id := uint64(0); id < first; id++ {
		res.seqs[id] = 0 // the first run's records were fsynced before the cut was armed
	}
	m.Restart()
	m.SetDropSyncs(false)
	m.SetDropDirSyncs(false)

	rm := &Metrics{}
	got, _, err := replayIDsFS(t, m, ReaderOptions{FS: m, Metrics: rm, Logger: zap.NewNop()})
	if err != nil {
		res.err = err
		return res, nil
	}
	res.got = got
	var extra error
	if n := rm.SegmentsMissing.Load(); n != 0 {
		extra = fmt.Errorf("%d segments reported missing after the cut", n)
	}
	if emptySynced {
		if _, err := m.Stat("/wal/" + segmentName(openSeg)); err != nil {
			extra = fmt.Errorf("Sync returned, yet Open's segment %d is gone after the cut: %w", openSeg, err)
		}
	}
	return res, extra
}

func TestPowerCut_Reopen(t *testing.T) {
	const rounds = 200
	for _, mode := range []SyncMode{SyncAlways, SyncBatch} {
		for _, emptySync := range []bool{false, true} {
			t.Run(fmt.Sprintf("sync=%s/empty_sync=%v", mode, emptySync), func(t *testing.T) {
				var m *vfs.MemFS
				res, extra := reopenRound(t, 0, mode, 0, emptySync, func(fs *vfs.MemFS) { m = fs })
				require.NoError(t, checkPowerCut(mode, res))
				require.NoError(t, extra)
				require.Len(t, res.acked, powerCutRecords)
				ops := m.Ops()
				rng := rand.New(rand.NewPCG(uint64(mode)+11, 5))
				for round := range rounds {
					cutAt := 1 + rng.IntN(ops)
					res, extra := reopenRound(t, uint64(round), mode, cutAt, emptySync, nil)
					require.NoError(t, checkPowerCut(mode, res), "round %d, cut at operation %d of %d", round, cutAt, ops)
					require.NoError(t, extra, "round %d, cut at operation %d of %d", round, cutAt, ops)
				}
			})
		}
	}
}

// TestPowerCut_ReopenFailsWithoutDirSync: with directory fsyncs turned
// into no-ops for the second run, the reopen rounds must find acknowledged
// records lost (Open's segment vanishes with its directory entry).
func TestPowerCut_ReopenFailsWithoutDirSync(t *testing.T) {
	var m *vfs.MemFS
	_, _ = reopenRound(t, 0, SyncAlways, 0, false, func(fs *vfs.MemFS) { m = fs })
	ops := m.Ops()
	rng := rand.New(rand.NewPCG(9, 9))
	failed := 0
	for round := range 100 {
		res, _ := reopenRound(t, uint64(round), SyncAlways, 1+rng.IntN(ops), false, func(fs *vfs.MemFS) { fs.SetDropDirSyncs(true) })
		if errors.Is(checkPowerCut(SyncAlways, res), errAckedLost) {
			failed++
		}
	}
	t.Logf("%d of 100 rounds caught losing acknowledged records", failed)
	require.Positive(t, failed)
}
