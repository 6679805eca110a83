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
// snapshot allocates its fixed buffers (256 KiB for the snapshot, 1 MiB
// for series file records), nothing per series, and the file holds no
// labels: a series' labels go to the series file once, with the first
// snapshot after it was born. At 1 M series the periodic snapshot of a
// ~280 MB server once held a struct per series beside the encoded labels
// and then assembled the whole file in one buffer: ~550 MB of transient
// memory (VmHWM 818 MB); then, streamed, the labels were still two thirds
// of the ~76 MB it held per shard (VmHWM 1.5 × steady); then, without
// labels, ~22 MB per shard (1.34 ×). Now the shard goroutine writes the
// file in 256 KiB pieces as it encodes it.
func TestHeadSnapshot_AllocatesAboutItsSize(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 0, Options{})
	require.NoError(t, err)
	defer s.CloseUnstarted()
	const n = 200_000
	labelBytes := 0
	all := make([]labels.Labels, 0, n)
	lsets := make([]labels.Labels, 0, 1000)
	scrapes := int64(0)
	add := func(k int64) {
		for j := range k {
			require.NoError(t, s.apply(rvMsg(lsets, (scrapes+j)*15_000, func(k int) float64 { return float64(k) * 1.5 })).Err)
		}
	}
	for i := range n {
		ls := labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", fmt.Sprint(i%64),
			"instance", fmt.Sprintf("host-%05d.example.org:9100", i/64), "mode", "user")
		labelBytes += int(ls.ByteSize())
		all = append(all, ls)
		lsets = append(lsets, ls)
		if len(lsets) == cap(lsets) {
			add(3)
			lsets = lsets[:0]
		}
	}
	scrapes = 3
	snapshot := func(what string) (snapBytes, seriesBytes int64, alloc uint64) {
		t.Helper()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		require.NoError(t, s.writeHeadSnapshot(7))
		runtime.ReadMemStats(&after)
		fi, err := os.Stat(filepath.Join(dir, headSnapshotName))
		require.NoError(t, err)
		sfi, err := os.Stat(filepath.Join(dir, seriesFileName(s.series.seq)))
		require.NoError(t, err)
		alloc = after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: snapshot %d bytes (%.1f B/series), series file %d bytes, %d series (%.1f B/series of labels); allocated %d bytes (%.1f B/series, %.2f× the snapshot)",
			what, fi.Size(), float64(fi.Size())/n, sfi.Size(), n, float64(labelBytes)/n, alloc, float64(alloc)/n, float64(alloc)/float64(fi.Size()))
		return fi.Size(), sfi.Size(), alloc
	}
	// The first snapshot writes every series' record; the fixed buffers
	// (two pieces of ~1 MiB) are allocated once per snapshot.
	size1, series1, alloc1 := snapshot("first")
	require.Less(t, size1, int64(labelBytes), "the snapshot holds no labels")
	require.Greater(t, series1, int64(labelBytes), "the series file holds them")
	require.Greater(t, size1, int64(4<<20), "the test needs a file well above the fixed buffers")
	require.LessOrEqual(t, alloc1, uint64(2<<20), "snapshot allocated %.2f× its size", float64(alloc1)/float64(size1))

	// A later snapshot of the same series: the series file does not grow
	// and nothing is allocated per series beyond the snapshot's bytes.
	for i := 0; i < n; i += 1000 {
		lsets = all[i : i+1000]
		add(20)
	}
	size2, series2, alloc2 := snapshot("second, 20 samples later")
	require.Equal(t, series1, series2, "no new series, no new records")
	require.LessOrEqual(t, alloc2, uint64(1<<20), "snapshot allocated %.2f× its size", float64(alloc2)/float64(size2))
}
