package queryexec

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// BenchmarkResultCache runs a dashboard's range query (6 h at step 1 m over
// 200 counters at 15 s) with its window moved on by one step per
// iteration, as a Grafana refresh does: cache=off evaluates it in full
// each time, cache=on computes the one new step and merges.
func BenchmarkResultCache(b *testing.B) {
	db := testDB(b)
	const day = 24 * 3_600_000
	for i := range 200 {
		ls, ts, fs := counterSeries("x_total", fmt.Sprintf("host%03d", i), 0, day, 15_000)
		ls = labels.NewBuilder(ls).Set("job", fmt.Sprintf("j%d", i%10)).Labels()
		appendAny(b, db, ls, ts, fs)
	}
	for _, q := range []string{`sum(rate(x_total[5m]))`, `sum by (job)(rate(x_total[5m]))`, `x_total`} {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("query=%s/cache=%v", q, on), func(b *testing.B) {
				e := NewEngine(db, Options{})
				ctx := context.Background()
				start := int64(12 * 3_600_000)
				b.ReportAllocs()
				for b.Loop() {
					_, err := e.Range(ctx, q, time.UnixMilli(start), time.UnixMilli(start+6*3_600_000), time.Minute, QueryOpts{NoCache: !on})
					if err != nil {
						b.Fatal(err)
					}
					start += 60_000
					if start > day-6*3_600_000 {
						start = 12 * 3_600_000
					}
				}
			})
		}
	}
}
