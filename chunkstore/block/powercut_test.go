package block

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/internal/vfs"
)

// Power cuts during a block write, simulated with vfs.MemFS (only fsynced
// data and directory entries after a directory fsync survive): after the
// cut the parent holds either no published block (a leftover *.tmp at most,
// which Open's caller removes) or the whole block, which opens, verifies and
// reads back every sample. With the file system's fsyncs dropped the same
// check must fail: the test can tell whether the writer fsyncs.

func blockPowerCutSeries() []testSeries {
	var series []testSeries
	for i := range 20 {
		s := testSeries{lset: labels.FromStrings("__name__", "m", "i", fmt.Sprintf("%02d", i))}
		for t := int64(0); t < 300; t++ {
			s.samples = append(s.samples, testSample{t, float64(t*int64(i)) * 0.5})
		}
		series = append(series, s)
	}
	return series
}

// blockPowerCutRound writes the block with the cut at operation cutAt (0:
// none), reboots, copies what survived to a real directory and returns it.
func blockPowerCutRound(t *testing.T, seed uint64, cutAt int, knob func(*vfs.MemFS)) (dir string, finished bool) {
	t.Helper()
	m := vfs.NewMemFS(seed)
	require.NoError(t, m.MkdirAll("/blocks", 0o755))
	require.NoError(t, m.SyncDir("/"))
	if knob != nil {
		knob(m)
	}
	if cutAt > 0 {
		m.CrashAfter(cutAt)
	}
	if w, err := NewWriter("/blocks", 0, 1000, WriterOptions{FS: m, SegmentSize: 4 << 10}); err == nil {
		for _, s := range blockPowerCutSeries() {
			if err := w.AddSeries(s.lset, encodeChunks(s.samples, 3)); err != nil {
				require.ErrorIs(t, err, vfs.ErrCrashed) // only the cut may stop it
				break
			}
		}
		if _, err := w.Finish(); err != nil {
			w.Abort()
		} else {
			finished = true
		}
	}
	m.Restart()
	m.SetDropSyncs(false)
	m.SetDropFileSyncs(false)
	dir = t.TempDir()
	copyMemFS(t, m, "/blocks", dir)
	return dir, finished
}

func copyMemFS(t *testing.T, m *vfs.MemFS, from, to string) {
	t.Helper()
	ents, err := m.ReadDir(from)
	require.NoError(t, err)
	for _, e := range ents {
		src, dst := filepath.Join(from, e.Name()), filepath.Join(to, e.Name())
		if e.IsDir() {
			require.NoError(t, os.MkdirAll(dst, 0o755))
			copyMemFS(t, m, src, dst)
			continue
		}
		b, err := vfs.ReadFile(m, src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(dst, b, 0o644))
	}
}

// checkBlockPowerCut returns what the surviving directory violates: a
// published block must be complete, and a block whose Finish returned
// before the cut must be published.
func checkBlockPowerCut(dir string, finished bool, wantSamples uint64) (published bool, err error) {
	defer func() {
		if err == nil && finished && !published {
			err = errors.New("a finished block was lost")
		}
	}()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			continue // an interrupted write: removed by the shard at Open
		}
		published = true
		b, err := Open(filepath.Join(dir, e.Name()), OpenOptions{})
		if err != nil {
			return true, fmt.Errorf("published block does not open: %w", err)
		}
		defer b.Close()
		if err := b.Verify(); err != nil {
			return true, fmt.Errorf("published block does not verify: %w", err)
		}
		if got := b.Meta().Stats.NumSamples; got != wantSamples {
			return true, fmt.Errorf("published block holds %d samples, want %d", got, wantSamples)
		}
	}
	return published, nil
}

// blockPowerCutOps runs an uncut round and returns its operation count and
// the sample count of its block.
func blockPowerCutOps(t *testing.T) (int, uint64) {
	t.Helper()
	var mm *vfs.MemFS
	dir, finished := blockPowerCutRound(t, 0, 0, func(m *vfs.MemFS) { mm = m })
	require.True(t, finished)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1)
	b, err := Open(filepath.Join(dir, ents[0].Name()), OpenOptions{})
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.Verify())
	var want []testSample
	for _, s := range blockPowerCutSeries() {
		want = append(want, s.samples...)
	}
	var got []testSample
	for _, s := range readBlock(t, b) {
		got = append(got, s.samples...)
	}
	require.ElementsMatch(t, want, got, "the uncut block holds every sample")
	return mm.Ops(), b.Meta().Stats.NumSamples
}

func TestBlockWriter_PowerCut(t *testing.T) {
	ops, want := blockPowerCutOps(t)
	rng := rand.New(rand.NewPCG(1, 2))
	published := 0
	const rounds = 200
	for round := range rounds {
		cutAt := 1 + rng.IntN(ops)
		dir, finished := blockPowerCutRound(t, uint64(round), cutAt, nil)
		p, err := checkBlockPowerCut(dir, finished, want)
		require.NoError(t, err, "round %d: cut at operation %d of %d", round, cutAt, ops)
		if p {
			published++
		}
	}
	t.Logf("%d rounds over %d operations: %d published a complete block, the rest none", rounds, ops, published)
}

func TestBlockWriter_PowerCutFailsWithoutFsync(t *testing.T) {
	ops, want := blockPowerCutOps(t)
	knobs := map[string]func(*vfs.MemFS){
		"no_fsync":      func(m *vfs.MemFS) { m.SetDropSyncs(true) },
		"no_file_fsync": func(m *vfs.MemFS) { m.SetDropFileSyncs(true) },
	}
	for name, knob := range knobs {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			caught := 0
			for round := range 100 {
				cutAt := 1 + rng.IntN(ops+ops/4) // some rounds cut after Finish returned
				if cutAt > ops {
					cutAt = 0
				}
				dir, finished := blockPowerCutRound(t, uint64(round), cutAt, knob)
				if _, err := checkBlockPowerCut(dir, finished, want); err != nil {
					caught++
				}
			}
			t.Logf("%s: %d of 100 rounds caught", name, caught)
			require.Positive(t, caught, "without fsyncs the check must fail")
		})
	}
}
