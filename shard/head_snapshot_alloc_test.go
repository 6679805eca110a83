package shard

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// TestHeadSnapshot_AllocatesAboutItsSize: capturing and writing a head
// snapshot allocates about the file's size, not several times it. At 1 M
// series the periodic snapshot of a ~280 MB server once held a struct per
// series beside the encoded labels and then assembled the whole file in one
// buffer: ~550 MB of transient memory (VmHWM 818 MB).
func TestHeadSnapshot_AllocatesAboutItsSize(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 0, Options{})
	require.NoError(t, err)
	defer s.CloseUnstarted()
	const n = 100_000
	lsets := make([]labels.Labels, 0, 1000)
	for i := range n {
		lsets = append(lsets, labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", fmt.Sprint(i%64),
			"instance", fmt.Sprintf("host-%05d.example.org:9100", i/64), "mode", "user"))
		if len(lsets) == cap(lsets) {
			for j := range int64(3) {
				require.NoError(t, s.apply(rvMsg(lsets, j*15_000, func(k int) float64 { return float64(k) * 1.5 })).Err)
			}
			lsets = lsets[:0]
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	require.NoError(t, s.writeHeadSnapshot(7))
	runtime.ReadMemStats(&after)
	fi, err := os.Stat(filepath.Join(dir, headSnapshotName))
	require.NoError(t, err)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("snapshot %d bytes, %d series; allocated %d bytes (%.2f× the file)", fi.Size(), n, alloc, float64(alloc)/float64(fi.Size()))
	require.Greater(t, fi.Size(), int64(4<<20), "the test needs a file well above the fixed buffers")
	require.LessOrEqual(t, alloc, uint64(fi.Size())*13/10+3<<20, "snapshot allocated %.2f× its size", float64(alloc)/float64(fi.Size()))
}
