package shard

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/stages"
)

// changeLog records NoteChange calls (a stand-in for pipeline.Changes).
type changeLog struct {
	mu   sync.Mutex
	mint int64
}

func (c *changeLog) NoteChange(mint int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mint = min(c.mint, mint)
}

// TestApply_FailedCutStillNotesVisibleSamples: a message whose chunk cut
// fails partway has already appended its earlier samples, which queries
// can see; the change they make must still be noted, or a query result
// cache keeps steps they changed.
func TestApply_FailedCutStillNotesVisibleSamples(t *testing.T) {
	cl := &changeLog{mint: math.MaxInt64}
	s := openShard(t, t.TempDir(), Options{BlockRange: time.Hour, ChunkSamples: 2, Changes: cl})
	lset := labels.FromStrings("__name__", "m")
	require.NoError(t, s.apply(msg(lset, stages.Sample{T: 1000, V: 1})).Err)
	cl.mint = math.MaxInt64
	s.hc.fileSize = 1 // the next chunk cut cannot write: no record fits
	// 2000 is appended to the open chunk (1 sample < ChunkSamples); 3000
	// needs a cut, which fails and poisons the shard.
	r := s.apply(msg(lset, stages.Sample{T: 2000, V: 2}, stages.Sample{T: 3000, V: 3}))
	require.Error(t, r.Err)
	require.LessOrEqual(t, cl.mint, int64(2000), "the sample at 2000 is visible but its change was not noted")
	_ = s.CloseUnstarted()
}
