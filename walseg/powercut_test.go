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

// Power cuts, simulated: a writer over vfs.MemFS (which keeps only what was
// fsynced, and directory entries only after a directory fsync) is cut at a
// random file-system operation, the machine "reboots" (MemFS.Restart), and
// replay must return every acknowledged record:
//
//   - SyncAlways: every record Log acknowledged;
//   - SyncBatch: every acknowledged record covered by the last completed
//     fsync (Writer's syncedSeq when the cut came); what is lost is a suffix
//     of records acknowledged after it, i.e. within the sync window the
//     package doc documents (SyncInterval, 10 ms by default);
//
// and nothing else: no record twice, none out of order, none never written.
// The run also seals segments (small segments), checkpoints and truncates,
// so creation, rename and removal of files and directories are cut too.
//
// To see that the test can fail, TestPowerCut_FailsWithoutFsync runs the
// same rounds on a MemFS whose fsyncs (or only directory fsyncs) do nothing:
// as if the writer's fsyncs were removed. It requires the check to find
// acknowledged records lost. Manual run: go test ./walseg -run PowerCut -v.

const powerCutRecords = 120

var errAckedLost = errors.New("acknowledged record lost")

type powerCutResult struct {
	acked     []uint64          // ids acknowledged before the cut
	seqs      map[uint64]uint64 // id → its sequence number
	syncedSeq uint64            // the writer's last fsynced seq when the cut came
	got       []uint64          // ids replayed after the reboot
	err       error             // replay error
}

// powerCutRound runs one round with the cut at file-system operation cutAt
// (0: no cut until after Close).
func powerCutRound(t *testing.T, seed uint64, mode SyncMode, cutAt int, knob func(*vfs.MemFS)) powerCutResult {
	t.Helper()
	m := vfs.NewMemFS(seed)
	require.NoError(t, m.MkdirAll("/wal", 0o755))
	require.NoError(t, m.SyncDir("/"))
	if knob != nil {
		knob(m)
	}
	if cutAt > 0 {
		m.CrashAfter(cutAt)
	}
	res := powerCutResult{seqs: map[uint64]uint64{}}
	o := Options{FS: m, Sync: mode, SegmentSize: 256, CompressMinBytes: -1, Logger: zap.NewNop()}
	w, err := Open("/wal", o)
	if err == nil {
		ctx := context.Background()
		for id := uint64(0); id < powerCutRecords; id++ {
			seq, err := w.Write(idRecord(id))
			if err == nil {
				err = w.WaitDurable(ctx, seq)
			}
			if err != nil {
				break
			}
			res.seqs[id] = seq
			res.acked = append(res.acked, id)
			if id%40 == 39 {
				// Head-cut style: seal, checkpoint everything, truncate.
				sealed, err := w.Rotate(ctx)
				if err != nil {
					break
				}
				if _, err := Checkpoint("/wal", sealed, CheckpointOptions{FS: m, KeepSample: func(RefSample) bool { return true }, Logger: zap.NewNop()}); err != nil {
					break
				}
				if err := TruncateFS(m, "/wal", sealed, nil); err != nil {
					break
				}
			}
		}
		_ = w.Close()
		w.mu.Lock()
		res.syncedSeq = w.mu.syncedSeq
		w.mu.Unlock()
	}
	m.Restart() // the power cut (after Close when cutAt was never reached)
	m.SetDropSyncs(false)
	m.SetDropDirSyncs(false)

	// Reboot: replay, then a writer's Open (which repairs and seals), then
	// replay again: both must hold the same records.
	got, _, err := replayIDsFS(t, m, ReaderOptions{FS: m, Logger: zap.NewNop()})
	if err != nil {
		res.err = err
		return res
	}
	w2, err := Open("/wal", Options{FS: m, Logger: zap.NewNop()})
	if err != nil {
		res.err = fmt.Errorf("open after reboot: %w", err)
		return res
	}
	if err := w2.Close(); err != nil {
		res.err = err
		return res
	}
	again, _, err := replayIDsFS(t, m, ReaderOptions{FS: m, Logger: zap.NewNop()})
	if err != nil {
		res.err = err
		return res
	}
	if fmt.Sprint(got) != fmt.Sprint(again) {
		res.err = fmt.Errorf("replay after the writer's repair differs: %v then %v", got, again)
	}
	res.got = got
	return res
}

func replayIDsFS(t *testing.T, m *vfs.MemFS, o ReaderOptions) ([]uint64, ReplayStats, error) {
	t.Helper()
	r, err := OpenReader("/wal", o)
	if err != nil {
		return nil, ReplayStats{}, err
	}
	defer r.Close()
	var ids []uint64
	for r.Next() {
		s, err := DecodeSamples(nil, r.Record())
		if err != nil || len(s) != 1 {
			return nil, r.Stats(), fmt.Errorf("record at %+v does not decode: %w", r.Position(), err)
		}
		ids = append(ids, uint64(s[0].T))
	}
	return ids, r.Stats(), r.Err()
}

// checkPowerCut returns what the round violates, or nil.
func checkPowerCut(mode SyncMode, r powerCutResult) error {
	if r.err != nil {
		return r.err
	}
	for i, id := range r.got {
		if id >= powerCutRecords || (i > 0 && id <= r.got[i-1]) {
			return fmt.Errorf("replayed %v: not the written records in order", r.got)
		}
	}
	have := map[uint64]bool{}
	for _, id := range r.got {
		have[id] = true
	}
	for _, id := range r.acked {
		if have[id] {
			continue
		}
		if mode == SyncBatch && r.seqs[id] > r.syncedSeq {
			continue // acknowledged after the last fsync: inside the window
		}
		return fmt.Errorf("%w: record %d (acked %d, synced through seq %d, replayed %v)", errAckedLost, id, len(r.acked), r.syncedSeq, r.got)
	}
	if mode == SyncBatch {
		// What is lost is a suffix: nothing after a lost record survives.
		lost := false
		for _, id := range r.acked {
			if !have[id] {
				lost = true
			} else if lost {
				return fmt.Errorf("record %d survived after a lost one: %v", id, r.got)
			}
		}
	}
	return nil
}

// powerCutOps counts the file-system operations of an uncut round, so cuts
// can land anywhere in it.
func powerCutOps(t *testing.T, mode SyncMode) int {
	t.Helper()
	var m *vfs.MemFS
	res := powerCutRound(t, 0, mode, 0, func(fs *vfs.MemFS) { m = fs })
	require.NoError(t, checkPowerCut(mode, res))
	require.Len(t, res.acked, powerCutRecords)
	return m.Ops()
}

func TestPowerCut(t *testing.T) {
	const rounds = 300
	for _, mode := range []SyncMode{SyncAlways, SyncBatch} {
		t.Run("sync="+mode.String(), func(t *testing.T) {
			ops := powerCutOps(t, mode)
			rng := rand.New(rand.NewPCG(uint64(mode), 7))
			lostInWindow := 0
			for round := range rounds {
				cutAt := 1 + rng.IntN(ops)
				seed := uint64(round)
				res := powerCutRound(t, seed, mode, cutAt, nil)
				require.NoError(t, checkPowerCut(mode, res), "round %d: seed %d, cut at operation %d of %d", round, seed, cutAt, ops)
				if len(res.got) < len(res.acked) {
					lostInWindow++
				}
			}
			if mode == SyncAlways {
				require.Zero(t, lostInWindow)
			}
			t.Logf("%d rounds over %d operations; rounds that lost acknowledged records inside the batch window: %d", rounds, ops, lostInWindow)
		})
	}
}

// TestPowerCut_FailsWithoutFsync: the same rounds, with the file system's
// fsyncs (then only its directory fsyncs) turned into no-ops, must make the
// check find lost acknowledged records: the power-cut test can fail.
func TestPowerCut_FailsWithoutFsync(t *testing.T) {
	knobs := map[string]func(*vfs.MemFS){
		"no_fsync":     func(m *vfs.MemFS) { m.SetDropSyncs(true) },
		"no_dir_fsync": func(m *vfs.MemFS) { m.SetDropDirSyncs(true) },
	}
	for name, knob := range knobs {
		t.Run(name, func(t *testing.T) {
			ops := powerCutOps(t, SyncAlways)
			rng := rand.New(rand.NewPCG(3, 3))
			failed := 0
			for round := range 100 {
				res := powerCutRound(t, uint64(round), SyncAlways, 1+rng.IntN(ops), knob)
				err := checkPowerCut(SyncAlways, res)
				if errors.Is(err, errAckedLost) {
					failed++
				}
			}
			t.Logf("%s: %d of 100 rounds caught losing acknowledged records", name, failed)
			require.Positive(t, failed, "without fsyncs the power-cut check must fail")
		})
	}
}
