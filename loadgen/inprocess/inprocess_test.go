package inprocess

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/loadgen"
	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/stages"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const start = 1767225600000 // 2026-01-01

// TestTarget_Backfill appends a backfill of two hosts and reads every
// sample back from the database.
func TestTarget_Backfill(t *testing.T) {
	tg, err := Open(t.TempDir(), pipeline.Options{Shards: 2, HeadGCInterval: -1, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		Workload: loadgen.WorkloadBackfill, Protocol: loadgen.ProtocolInProcess, Target: tg,
		Hosts: 2, Seed: 1, Start: start, BackfillRange: 10 * time.Minute, Batch: 600,
	})
	require.NoError(t, err)
	require.Zero(t, sum.RequestsFailed, sum.FirstError)
	require.Positive(t, sum.CPUSecondsPerMillion)

	q, err := tg.DB().Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	ss, err := q.Select(context.Background(), labels.MustNewMatcher(labels.MatchEqual, "job", "node"))
	require.NoError(t, err)
	series, samples := 0, int64(0)
	var it *pipeline.SampleIterator
	for ss.Next() {
		series++
		it = ss.At().Iterator(it)
		for it.Next() {
			samples++
		}
		require.NoError(t, it.Err())
	}
	require.NoError(t, ss.Err())
	require.NoError(t, q.Close())
	require.Equal(t, 2*507, series)
	require.Equal(t, sum.Samples, samples)
	require.NoError(t, tg.Close())
}

// TestTarget_Rejects: series with more labels than the database's limit
// are rejected and loadgen counts those requests as failed. (It used
// out-of-order samples until the database learnt to take them, issue 12.)
func TestTarget_Rejects(t *testing.T) {
	tg, err := Open("", pipeline.Options{Shards: 1, HeadGCInterval: -1, Logger: zaptest.NewLogger(t),
		Limits: stages.Limits{MaxLabelsPerSeries: 4}})
	require.NoError(t, err)
	defer func() { require.NoError(t, tg.Close()) }()
	c := loadgen.Config{
		Workload: loadgen.WorkloadBackfill, Protocol: loadgen.ProtocolInProcess, Target: tg,
		Hosts: 1, Seed: 1, Start: start, BackfillRange: 2 * time.Minute,
	}
	sum, err := loadgen.Run(context.Background(), c)
	require.NoError(t, err)
	require.Positive(t, sum.RequestsFailed)
	require.Contains(t, sum.FirstError, "rejected")

	err = tg.Send(context.Background(), &loadgen.Payload{Protocol: loadgen.ProtocolInflux})
	require.ErrorContains(t, err, "no batch")
	depth, ok := tg.InboxDepth(context.Background())
	require.True(t, ok)
	require.Zero(t, depth) // idle: every inbox drained
}
