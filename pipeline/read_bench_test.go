package pipeline

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// BenchmarkAppendDuringSelect measures the latency of small Appends to a
// shard while another goroutine runs Selects of 100,000 head series of
// that shard back to back (one shard, so every append meets the select).
// One op is one Append of one sample; it reports the append latency
// percentiles (p50/p99/max, µs) and the selects completed. The head read
// runs on the shard goroutine, so this is the append stall a large
// select causes.
func BenchmarkAppendDuringSelect(b *testing.B) {
	for _, sel := range []bool{false, true} {
		name := "select=none"
		if sel {
			name = "select=100k"
		}
		b.Run(name, func(b *testing.B) { benchAppendDuringSelect(b, sel) })
	}
}

func benchAppendDuringSelect(b *testing.B, sel bool) {
	const nSeries = 100_000
	db, err := Open(b.TempDir(), Options{Shards: 1, HeadGCInterval: -1, Logger: zap.NewNop(),
		WAL: walseg.Options{Sync: walseg.SyncNone}})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var batch stages.Batch
	for i := range nSeries {
		batch.AddSample(batch.AddSeries(labels.FromStrings("__name__", "big", "i", fmt.Sprint(i)), nil), 1000, float64(i))
		if len(batch.Samples) == 10_000 || i == nSeries-1 {
			if _, err := db.Append(ctx, &batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	stop := make(chan struct{})
	var selects atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		if !sel {
			return // the baseline: the same head, no reader
		}
		m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "big")
		for {
			select {
			case <-stop:
				return
			default:
			}
			q, err := db.Querier(0, 1<<62)
			if err != nil {
				b.Error(err)
				return
			}
			ss, err := q.Select(ctx, m)
			if err != nil {
				b.Error(err)
			} else if ss.Len() != nSeries {
				b.Errorf("select saw %d series", ss.Len())
			}
			q.Close()
			selects.Add(1)
		}
	})
	small := labels.FromStrings("__name__", "small")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		batch.Reset()
		batch.AddSample(batch.AddSeries(small, nil), int64(2000+i), 1)
		start := time.Now()
		st, err := db.Append(ctx, &batch)
		lat = append(lat, time.Since(start))
		if err != nil || st.Appended != 1 {
			b.Fatalf("append: %v %+v", err, st)
		}
		time.Sleep(100 * time.Microsecond) // an appender at ~10k requests/s, not a spinning one
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) }
	b.ReportMetric(pct(0.5), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(selects.Load()), "selects")
}
