package walseg

import (
	"context"
	"encoding/binary"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/internal/crashtest"
)

const crashRole = "walseg-append"

// TestWriter_Crash SIGKILLs a child that appends with SyncAlways and logs
// every acknowledged id to a side file, in >= 20 rounds on one directory.
// After each kill, replay must hold ids 0..n-1 exactly once and in order
// (each round continues after what replay found), and every acknowledged
// id must be among them. Unacknowledged ids may survive: only after all
// acknowledged ones.
func TestWriter_Crash(t *testing.T) {
	if dir, ok := crashtest.ChildDir(crashRole); ok {
		crashChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("crash test re-executes the test binary")
	}
	rng := rand.New(rand.NewSource(testSeed(t)))
	dir := t.TempDir()
	const rounds = 20
	killed := 0
	for round := 0; round < rounds; round++ {
		res, err := crashtest.Run(t, crashtest.Options{
			Test:      t.Name(),
			Role:      crashRole,
			Dir:       dir,
			KillAfter: time.Duration(rng.Intn(40)) * time.Millisecond,
		})
		require.NoError(t, err, "round %d", round)
		if res.Killed {
			killed++
		} else {
			require.NoError(t, res.Exit, "round %d: child failed: %s", round, res.Output)
		}
		checkCrashDir(t, dir, round)
	}
	require.Greater(t, killed, rounds/2, "most rounds must end in SIGKILL")
}

// checkCrashDir verifies the invariants after a round; it replays
// read-only so the next child exercises the repair path itself.
func checkCrashDir(t *testing.T, dir string, round int) {
	t.Helper()
	recs, st, err := replayAll(t, filepath.Join(dir, "wal"), ReaderOptions{Strict: true, ReadOnly: true, Logger: zap.NewNop()})
	require.NoError(t, err, "round %d", round)
	for i, rec := range recs {
		require.Equal(t, uint64(i), recordID(t, rec), "round %d: replayed id at position %d", round, i)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "acked"))
	if os.IsNotExist(err) {
		return
	}
	require.NoError(t, err)
	raw = raw[:len(raw)/8*8] // an id being written at the kill is not acknowledged
	var prev int64 = -1
	for off := 0; off < len(raw); off += 8 {
		id := int64(binary.LittleEndian.Uint64(raw[off:]))
		require.Greater(t, id, prev, "round %d: acked ids increase", round)
		require.Less(t, id, int64(len(recs)), "round %d: acked id %d lost (replayed %d, torn tail %v)", round, id, len(recs), st.TornTail)
		prev = id
	}
	t.Logf("round %d: replayed %d ids, %d acked, torn tail: %v", round, len(recs), len(raw)/8, st.TornTail != nil)
}

// crashChild is the child body: replay, then append batches of ids with
// SyncAlways and log each acknowledged id until killed.
func crashChild(t *testing.T, dir string) {
	walDir := filepath.Join(dir, "wal")
	next := uint64(0)
	if _, err := os.Stat(walDir); err == nil {
		recs, _, err := replayAll(t, walDir, ReaderOptions{Strict: true, Logger: zap.NewNop()})
		if err != nil {
			t.Fatalf("child replay: %v", err)
		}
		next = uint64(len(recs))
	}
	w, err := Open(walDir, Options{Sync: SyncAlways, SegmentSize: 8 << 10, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("child open: %v", err)
	}
	defer w.Close()
	acked, err := os.OpenFile(filepath.Join(dir, "acked"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("child open side file: %v", err)
	}
	defer acked.Close()
	crashtest.Ready()
	var buf []byte
	deadline := time.Now().Add(10 * time.Second) // a runaway bound only; the parent kills far sooner
	for id := next; time.Now().Before(deadline); {
		// Batches of 1..4 records: Write without waiting, then one wait.
		n := 1 + int(id%4)
		recs := make([][]byte, n)
		for i := range recs {
			recs[i] = idRecord(id + uint64(i))
		}
		seq, err := w.Write(recs...)
		if err != nil {
			t.Fatalf("child write: %v", err)
		}
		if err := w.WaitDurable(context.Background(), seq); err != nil {
			t.Fatalf("child wait: %v", err)
		}
		buf = buf[:0]
		for i := 0; i < n; i++ {
			buf = binary.LittleEndian.AppendUint64(buf, id+uint64(i))
		}
		if _, err := acked.Write(buf); err != nil {
			t.Fatalf("child ack write: %v", err)
		}
		if err := acked.Sync(); err != nil {
			t.Fatalf("child ack sync: %v", err)
		}
		id += uint64(n)
	}
}
