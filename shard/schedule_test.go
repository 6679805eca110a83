package shard

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// TestShard_CompactionNotStarvedByCuts: with a head cut due after every cut
// (a backlog of ingest), a compaction that became due runs before the next
// cut instead of waiting until the head has caught up. Before planJob took
// turns, the first four jobs here were four cuts.
func TestShard_CompactionNotStarvedByCuts(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{
		BlockRange:       100 * time.Millisecond,
		CompactionRanges: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond},
	})
	t.Cleanup(func() { require.NoError(t, s.CloseUnstarted()) })
	var series []labels.Labels
	for i := range 5 {
		series = append(series, labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)))
	}
	for ts := int64(0); ts <= 450; ts++ {
		require.NoError(t, s.apply(rvMsg(series, ts, func(int) float64 { return float64(ts) })).Err)
	}
	var names []string
	for range 4 {
		j, ok := s.planJob()
		require.True(t, ok, "a job is due after %v", names)
		names = append(names, j.name)
		apply, err := j.run(context.Background())
		require.NoError(t, err, j.name)
		require.NoError(t, apply(s), j.name)
	}
	t.Logf("jobs: %q", names)
	require.True(t, strings.HasPrefix(names[0], "head cut [0, 100)"), names[0])
	require.True(t, strings.HasPrefix(names[1], "head cut [100, 200)"), names[1])
	require.True(t, strings.HasPrefix(names[2], "compaction"), "the window [0, 200) is complete: its compaction goes before the next cut: %q", names)
	require.True(t, strings.HasPrefix(names[3], "head cut [200, 300)"), names[3])
}
