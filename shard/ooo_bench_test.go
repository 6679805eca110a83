package shard

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// BenchmarkShardApply measures apply (classify, WAL encode and hand-off,
// head append) of messages of 1,000 series × 1 sample on the shard
// goroutine, WAL sync none: order=in-order is a scrape (every series one
// step later; the in-order ingest path), order=late a backfill of the hour
// behind the head, ascending (every sample goes to the out-of-order head),
// order=late-over-blocks the same into the hour a forced cut persisted
// (every sample is first looked up in the block: blockLookup's cost).
// One op is one message; samples/s is the rate.
func BenchmarkShardApply(b *testing.B) {
	const series = 1000
	for _, order := range []string{"in-order", "late", "late-over-blocks"} {
		b.Run("order="+order, func(b *testing.B) {
			s, err := Open(b.TempDir(), 0, Options{Now: fixedClock(boundsNow), Logger: zap.NewNop(), WAL: walseg.Options{Sync: walseg.SyncNone}})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.CloseUnstarted() }()
			m := &stages.ShardBatch{}
			for i := range series {
				ls := labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))
				h, _ := stages.HashLabels(nil, ls)
				m.Series = append(m.Series, stages.ShardSeries{Labels: ls, Hash: h})
			}
			m.Samples = make([]stages.Sample, series)
			send := func(ts int64) {
				for i := range m.Samples {
					m.Samples[i] = stages.Sample{Series: uint32(i), T: ts, V: float64(ts % 1000)}
				}
				m.Result = s.apply(m)
				if m.Result.Err != nil || m.Result.Stats.Appended != series {
					b.Fatalf("%v %+v", m.Result.Err, m.Result.Stats)
				}
			}
			// Warm up: series exist and have cut chunks.
			base := boundsNow - 3_600_000
			for k := range int64(240) {
				send(base + k*15_000)
			}
			next := base + 240*15_000
			lateT := base - 3_600_000
			if order == "late-over-blocks" {
				j, ok := s.planHeadCut(true)
				if !ok {
					b.Fatal("no cut")
				}
				apply, err := j.run(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if err := apply(s); err != nil {
					b.Fatal(err)
				}
				lateT = base + 1 // between the persisted samples
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if order != "in-order" {
					send(lateT)
					lateT++
				} else {
					send(next)
					next += 15_000
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*series)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
