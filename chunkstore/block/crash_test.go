package block

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/internal/crashtest"
	"github.com/silverback-tsdb/tsdb/internal/fsutil"
)

const (
	crashRole    = "block-writer"
	crashAckFile = "acks" // not a ULID: OpenAll ignores it
	crashRounds  = 20
	crashMaxLive = 4 // the child compacts when this many blocks are live
)

// TestCrash_WriteAndCompact SIGKILLs a child that writes blocks and
// compacts them (deleting the parents) in a loop. After every kill the
// parent reopens the directory: leftovers are removed, every block opens
// and verifies, and every block the child acknowledged as published and
// had not started to delete is present.
func TestCrash_WriteAndCompact(t *testing.T) {
	if dir, ok := crashtest.ChildDir(crashRole); ok {
		crashChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("crash test re-executes the test binary")
	}
	rng := rand.New(rand.NewPCG(testSeed(t), 4))
	dir := t.TempDir()
	killed, rounds := 0, 0
	// After crashRounds rounds, rounds go on (at most 3*crashRounds more)
	// with a kill-delay bound that doubles each round until the child has
	// been seen to compact: on a loaded machine 150 ms may not get it there,
	// and the point of the test is kills during compaction.
	bound := 150 * time.Millisecond
	for round := 0; round < 4*crashRounds; round++ {
		if round >= crashRounds {
			if compactions(t, dir) > 0 {
				break
			}
			bound = min(2*bound, 10*time.Second)
		}
		rounds++
		res, err := crashtest.Run(t, crashtest.Options{
			Test:      "TestCrash_WriteAndCompact",
			Role:      crashRole,
			Dir:       dir,
			KillAfter: time.Duration(rng.Int64N(int64(bound))),
		})
		require.NoError(t, err, "round %d", round)
		require.True(t, res.Killed || res.Exit == nil, "round %d: child failed: %v\n%s", round, res.Exit, res.Output)
		if res.Killed {
			killed++
		}

		blocks, failed, err := OpenAll(dir, OpenOptions{})
		require.NoError(t, err, "round %d", round)
		require.Empty(t, failed, "round %d: blocks that do not open", round)
		present := map[string]bool{}
		for _, b := range blocks {
			require.NoError(t, b.Verify(), "round %d: block %s", round, b.Meta().ULID)
			present[b.Meta().ULID.String()] = true
			require.NoError(t, b.Close())
		}
		ents, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range ents {
			require.False(t, strings.HasSuffix(e.Name(), fsutil.TmpSuffix), "round %d: leftover %s", round, e.Name())
		}
		for id := range readAcks(t, dir) {
			require.True(t, present[id], "round %d: acknowledged block %s missing", round, id)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, crashAckFile))
	require.NoError(t, err)
	deletes := strings.Count(string(raw), "X ")
	t.Logf("%d of %d rounds ended by SIGKILL; %d blocks published, %d deleted by compaction",
		killed, rounds, strings.Count(string(raw), "W "), deletes)
	require.Positive(t, deletes, "the child never got to compact; the kill delays are too short")
}

// readAcks returns the blocks acknowledged as published ("W id") and not
// later announced for deletion ("X id"). A torn last line is ignored.
func readAcks(t *testing.T, dir string) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, crashAckFile))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	live := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		op, id, ok := strings.Cut(sc.Text(), " ")
		if !ok || len(id) != 26 {
			continue
		}
		switch op {
		case "W":
			live[id] = true
		case "X":
			delete(live, id)
		}
	}
	require.NoError(t, sc.Err())
	return live
}

// crashChild is the child body: write a block, acknowledge it; when enough
// blocks are live, compact them all, acknowledge the output, announce and
// delete the inputs. It runs until killed (or for a bounded number of
// iterations, so a slow parent never leaves it running).
func crashChild(t *testing.T, dir string) {
	ack, err := os.OpenFile(filepath.Join(dir, crashAckFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer ack.Close()
	acknowledge := func(op, id string) {
		_, err := ack.WriteString(op + " " + id + "\n")
		require.NoError(t, err)
		require.NoError(t, ack.Sync())
	}
	live, failed, err := OpenAll(dir, OpenOptions{})
	require.NoError(t, err)
	require.Empty(t, failed)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	crashtest.Ready()
	for range 200 {
		mint := rng.Int64N(10000)
		maxt := mint + 1 + rng.Int64N(20000)
		series := nonEmpty(genSeries(rng, 1+rng.IntN(20), mint, maxt, true))
		w, err := NewWriter(dir, mint, maxt, WriterOptions{SegmentSize: int64(2000 + rng.IntN(20000))})
		require.NoError(t, err)
		for _, s := range series {
			require.NoError(t, w.AddSeries(s.lset, encodeChunks(s.samples, 1+rng.IntN(120))))
		}
		m, err := w.Finish()
		require.NoError(t, err)
		acknowledge("W", m.ULID.String())
		b, err := Open(filepath.Join(dir, m.ULID.String()), OpenOptions{})
		require.NoError(t, err)
		live = append(live, b)
		if len(live) < crashMaxLive {
			continue
		}
		cm, err := Compact(dir, live, CompactOptions{})
		require.NoError(t, err)
		acknowledge("W", cm.ULID.String())
		for _, p := range live {
			acknowledge("X", p.Meta().ULID.String())
			require.NoError(t, p.MarkForDeletion())
			require.NoError(t, p.Close())
		}
		out, err := Open(filepath.Join(dir, cm.ULID.String()), OpenOptions{})
		require.NoError(t, err)
		live = []*Block{out}
	}
	for _, b := range live {
		require.NoError(t, b.Close())
	}
}

// compactions counts the deletions by compaction the child has logged.
func compactions(t *testing.T, dir string) int {
	raw, err := os.ReadFile(filepath.Join(dir, crashAckFile))
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	return strings.Count(string(raw), "X ")
}
