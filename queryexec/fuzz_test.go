package queryexec

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// FuzzQuery evaluates arbitrary query text: every input either parses and
// evaluates or fails with a typed error, and never panics (the engine turns
// a panic into KindInternal, which the fuzzer reports as a failure).
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		`up`, `rate(x_total[5m])`, `sum by (job) (rate(x_total[5m]))`, `x / on(job) group_left y`,
		`histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))`, `x[10m:1m] @ end()`,
		`topk(2, x) or bottomk(1, y)`, `label_replace(x, "a", "$1", "job", "(.*)")`,
		`quantile_over_time(0.5, x[5m] offset 1m)`, `absent(nope)`, `count_values("v", x)`,
		`x[1h/2]`, `rate(x_total[5m] anchored)`, `x smoothed`, `-x ^ 2 % 3`, `time() > bool 0`,
	} {
		f.Add(s)
	}
	db := testDB(f)
	appendSeries(f, db,
		testSeries{labels.FromStrings("__name__", "x", "job", "a"), []int64{0, 60_000, 120_000}, []float64{1, 5, 2}},
		testSeries{labels.FromStrings("__name__", "x_total", "job", "b"), []int64{0, 60_000, 120_000}, []float64{1, 5, 9}},
		testSeries{labels.FromStrings("__name__", "h_bucket", "le", "1"), []int64{0, 60_000}, []float64{1, 2}},
		testSeries{labels.FromStrings("__name__", "h_bucket", "le", "+Inf"), []int64{0, 60_000}, []float64{2, 4}},
	)
	e := NewEngine(db, Options{MaxSamples: 100_000, Timeout: 5 * time.Second})
	f.Fuzz(func(t *testing.T, q string) {
		ctx := context.Background()
		for _, run := range []func() (*Result, error){
			func() (*Result, error) { return e.Instant(ctx, q, time.UnixMilli(120_000), QueryOpts{}) },
			func() (*Result, error) {
				return e.Range(ctx, q, time.UnixMilli(0), time.UnixMilli(180_000), 30*time.Second, QueryOpts{})
			},
		} {
			_, err := run()
			var qe *Error
			if err != nil && (!errors.As(err, &qe) || qe.Kind == KindInternal) {
				t.Fatalf("%q: %v", q, err)
			}
		}
	})
}
