package queryexec

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
)

// TestStreamingMatchesMaterialized checks the streaming selectors, run in
// parallel over many series, against the simple path that reads whole
// series into memory, query by query, bit for bit.
func TestStreamingMatchesMaterialized(t *testing.T) {
	db := testDB(t)
	r := rand.New(rand.NewPCG(3, 4))
	var ss []testSeries
	for i := range 80 {
		s := testSeries{lset: labels.FromStrings("__name__", "m_total", "i", fmt.Sprint(i), "g", fmt.Sprint(i%7))}
		v := 0.0
		for k := range 300 {
			if r.IntN(15) == 0 {
				continue
			}
			v += float64(r.IntN(10))
			if r.IntN(60) == 0 {
				v = 0
			}
			f := v
			if r.IntN(100) == 0 {
				f = math.Float64frombits(value.StaleNaN)
			}
			s.t = append(s.t, int64(k)*15_000+r.Int64N(3000))
			s.f = append(s.f, f)
		}
		ss = append(ss, s)
	}
	appendSeries(t, db, ss...)
	old := minSeriesPerWorker
	minSeriesPerWorker = 8
	t.Cleanup(func() { minSeriesPerWorker = old })
	e := NewEngine(db, Options{Parallelism: 4})
	if cap(e.pool) != 4 {
		t.Fatalf("worker pool of %d tokens, want 4: the parallel path would not run", cap(e.pool))
	}
	queries := []string{
		`m_total`, `rate(m_total[5m])`, `sum by (g) (increase(m_total[2m]))`, `max_over_time(m_total[10m] offset 3m)`,
		`count_over_time(m_total[1m] @ 3000)`, `changes(m_total[7m])`, `quantile_over_time(0.3, m_total[4m])`,
		`timestamp(m_total)`, `m_total offset -2m`, `last_over_time(m_total[30s])`,
	}
	ctx := context.Background()
	for _, q := range queries {
		for _, step := range []time.Duration{15 * time.Second, time.Minute, 17 * time.Minute} {
			forceMaterialized = false
			got, err := e.Range(ctx, q, time.UnixMilli(0), time.UnixMilli(4500_000), step, QueryOpts{})
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			forceMaterialized = true
			want, err := e.Range(ctx, q, time.UnixMilli(0), time.UnixMilli(4500_000), step, QueryOpts{})
			forceMaterialized = false
			if err != nil {
				t.Fatalf("%s materialized: %v", q, err)
			}
			if len(got.Matrix) == 0 || !reflect.DeepEqual(fmt.Sprint(got.Matrix), fmt.Sprint(want.Matrix)) || !reflect.DeepEqual(got.Infos, want.Infos) {
				t.Fatalf("%s step %s: streaming and materialized results differ (%d vs %d series)", q, step, len(got.Matrix), len(want.Matrix))
			}
		}
	}
}

// TestParallel_WorkerPanicReachesTheQuery: a panic on a worker goroutine is
// re-raised on the caller's, where the engine's recover turns it into the
// query's error; unrecovered there, it would end the process.
func TestParallel_WorkerPanicReachesTheQuery(t *testing.T) {
	ev := &evaluator{workers: make(chan struct{}, 3)}
	var r any
	func() {
		defer func() { r = recover() }()
		ev.parallel(4, func(k int) {
			if k == 2 {
				panic("boom in part 2")
			}
		})
	}()
	if r != "boom in part 2" {
		t.Fatalf("recovered %v, want the worker's panic", r)
	}
	if len(ev.workers) != 0 {
		t.Fatalf("%d tokens not returned", len(ev.workers))
	}
}
