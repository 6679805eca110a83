package shard

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/internal/crashtest"
	"github.com/silverback-tsdb/tsdb/walseg"
)

var seriesCrashSeed = flag.Uint64("series-crash.seed", 0, "seed for TestHeadSeriesFile_SIGKILL (0: random, logged)")

const seriesCrashRole = "shard-series-births"

// seriesCrashOptions: a snapshot about every 64 samples, so kills land in
// captures (series file and snapshot writes on the shard goroutine) and in
// the snapshot jobs' fsyncs and renames.
func seriesCrashOptions() Options {
	return Options{ChunkSamples: 4, HeadSnapshotSamplesPerSeries: 1, HeadChunkFileSize: 1 << 14,
		WAL: walseg.Options{Sync: walseg.SyncAlways, SegmentSize: 1 << 14}, Logger: zap.NewNop()}
}

// TestHeadSeriesFile_SIGKILL: a child process appends batch after batch,
// each with four fixed series and one series born in it ({k="<batch>"}, its
// only sample at t = batch), and acknowledges a batch once it is durable;
// periodic snapshots write the births' records to the series file. The
// parent SIGKILLs it at random moments, reopens the shard (from the newest
// snapshot and its series file, or the WAL) and requires every acknowledged
// batch, each sample under the labels it was sent with (a series read back
// under another ref's labels would show a born series whose k is not its
// timestamp), then lets the next child continue in the same directory.
func TestHeadSeriesFile_SIGKILL(t *testing.T) {
	if dir, ok := crashtest.ChildDir(seriesCrashRole); ok {
		seriesCrashChild(t, dir)
		return
	}
	seed := *seriesCrashSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (replay with -series-crash.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	loads := uint64(0)
	for round := range 20 {
		res, err := crashtest.Run(t, crashtest.Options{
			Test: t.Name(), Role: seriesCrashRole, Dir: dir,
			KillAfter: time.Duration(rng.IntN(200)) * time.Millisecond,
		})
		require.NoError(t, err, "round %d", round)
		require.True(t, res.Killed, "round %d: child exited by itself: %v\n%s", round, res.Exit, res.Output)
		acked := crashtest.ReadAcked(t, filepath.Join(dir, "acked"))
		s := openShard(t, filepath.Join(dir, "shard"), seriesCrashOptions())
		loads += s.m.SnapshotLoads.Load()
		_, stop := runShard(t, s)
		got := allSamples(t, s)
		require.NoError(t, stop())
		const bornPrefix = `{__name__="born", k="`
		for key, ts := range got {
			if k, ok := strings.CutPrefix(key, bornPrefix); ok {
				n := mustAtoi(t, strings.TrimSuffix(k, `"}`))
				if len(ts) == 0 && !acked[n] {
					// Killed between the WAL's series record and its
					// samples' record: an unacknowledged batch may leave
					// its new series without samples (head GC drops it).
					continue
				}
				require.Equal(t, []int64{n}, ts, "round %d: %s holds another series' samples (acked: %v)", round, key, acked[n])
			} else {
				require.Contains(t, key, `__name__="fixed"`, "round %d: a series never sent", round)
			}
		}
		for k := range acked {
			for i := range 4 {
				key := labels.FromStrings("__name__", "fixed", "i", strconv.Itoa(i)).String()
				require.Contains(t, got[key], k, "round %d: acked batch %d missing from %s", round, k, key)
			}
			key := labels.FromStrings("__name__", "born", "k", strconv.FormatInt(k, 10)).String()
			require.Equal(t, []int64{k}, got[key], "round %d: acked series %s", round, key)
		}
		t.Logf("round %d: %d acked batches, snapshot loaded: %v", round, len(acked), s.m.SnapshotLoads.Load() == 1)
	}
	require.Positive(t, loads, "no reopen loaded a snapshot: the series file was never read back")
}

func seriesCrashChild(t *testing.T, dir string) {
	s := openShard(t, filepath.Join(dir, "shard"), seriesCrashOptions())
	inbox, _ := runShard(t, s)
	next := int64(0)
	for _, ts := range allSamples(t, s) {
		for _, x := range ts {
			next = max(next, x+1)
		}
	}
	ack, err := os.OpenFile(filepath.Join(dir, "acked"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	crashtest.Ready()
	for k := next; ; k++ {
		series := make([]labels.Labels, 0, 5)
		for i := range 4 {
			series = append(series, labels.FromStrings("__name__", "fixed", "i", strconv.Itoa(i)))
		}
		series = append(series, labels.FromStrings("__name__", "born", "k", strconv.FormatInt(k, 10)))
		send(t, s, inbox, rvMsg(series, k, func(i int) float64 { return float64(i) }))
		_, err := fmt.Fprintf(ack, "%d\n", k)
		require.NoError(t, err)
		require.NoError(t, ack.Sync())
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	k, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err, "%q", s)
	return k
}
