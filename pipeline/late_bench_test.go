package pipeline

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/stages"
)

// BenchmarkSelectLate reads every sample of 100 series × 1 h at 15 s from
// the head: data=in-order appended in order; data=late the same samples
// with every other one appended late (the odd scrapes after the even ones),
// so half of each series is in the out-of-order head and its chunks overlap
// (the querier merges them). One op is one Select and full iteration.
func BenchmarkSelectLate(b *testing.B) {
	const series, scrapes = 100, 240
	now := time.Now().UnixMilli()
	for _, data := range []string{"in-order", "late"} {
		b.Run("data="+data, func(b *testing.B) {
			db, err := Open(b.TempDir(), Options{Shards: 1, Logger: zap.NewNop()})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			start := now - scrapes*15_000
			put := func(k int) {
				var bt stages.Batch
				for i := range series {
					bt.AddSample(bt.AddSeries(labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)), nil), start+int64(k)*15_000, float64(k))
				}
				if _, err := db.Append(ctx, &bt); err != nil {
					b.Fatal(err)
				}
			}
			if data == "late" {
				for k := 0; k < scrapes; k += 2 {
					put(k)
				}
				for k := 1; k < scrapes; k += 2 {
					put(k)
				}
			} else {
				for k := range scrapes {
					put(k)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuNanos(b)
			n := 0
			for range b.N {
				q, err := db.Querier(math.MinInt64, math.MaxInt64)
				if err != nil {
					b.Fatal(err)
				}
				ss, err := q.Select(ctx, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
				if err != nil {
					b.Fatal(err)
				}
				var it *SampleIterator
				n = 0
				for ss.Next() {
					it = ss.At().Iterator(it)
					for it.Next() {
						n++
					}
				}
				q.Close()
			}
			b.StopTimer()
			if n != series*scrapes {
				b.Fatalf("read %d samples, want %d", n, series*scrapes)
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(cpuNanos(b)-cpu0)/float64(b.N*n), "cpu-ns/sample")
		})
	}
}
