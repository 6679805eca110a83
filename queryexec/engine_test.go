package queryexec

import (
	"context"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/stages"
)

// testDB opens a two-shard database in a temp dir, closed at cleanup.
func testDB(t testing.TB) *pipeline.DB {
	t.Helper()
	db, err := pipeline.Open(t.TempDir(), pipeline.Options{Shards: 2, HeadGCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type testSeries struct {
	lset labels.Labels
	t    []int64
	f    []float64
}

func appendSeries(t testing.TB, db *pipeline.DB, ss ...testSeries) {
	t.Helper()
	var b stages.Batch
	for _, s := range ss {
		ref := b.AddSeries(s.lset, nil)
		for i := range s.t {
			b.AddSample(ref, s.t[i], s.f[i])
		}
	}
	st, err := db.Append(context.Background(), &b)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rejected() > 0 {
		t.Fatalf("append rejected samples: %+v", st)
	}
}

func TestInstantVectorSelector(t *testing.T) {
	db := testDB(t)
	appendSeries(t, db,
		testSeries{labels.FromStrings("__name__", "up", "job", "a"), []int64{0, 60_000, 120_000}, []float64{1, 2, 3}},
		testSeries{labels.FromStrings("__name__", "up", "job", "b"), []int64{0, 60_000}, []float64{10, math.Float64frombits(value.StaleNaN)}},
		testSeries{labels.FromStrings("__name__", "down", "job", "a"), []int64{0}, []float64{7}},
	)
	e := NewEngine(db, Options{})
	ctx := context.Background()

	res, err := e.Instant(ctx, `up`, time.UnixMilli(90_000), QueryOpts{})
	if err != nil {
		t.Fatal(err)
	}
	// job=b is stale at 60s, job=a's last sample is 2 at 60s.
	if res.Type != ValueVector || len(res.Vector) != 1 || res.Vector[0].F != 2 || res.Vector[0].Metric.Get("job") != "a" {
		t.Fatalf("up@90s = %+v", res)
	}
	// Lookback: 5m after the last sample (left-open) nothing is left.
	res, err = e.Instant(ctx, `up{job="a"}`, time.UnixMilli(120_000+300_000), QueryOpts{})
	if err != nil || len(res.Vector) != 0 {
		t.Fatalf("past lookback: %+v, %v", res, err)
	}
	res, err = e.Instant(ctx, `up{job="a"}`, time.UnixMilli(120_000+299_999), QueryOpts{})
	if err != nil || len(res.Vector) != 1 || res.Vector[0].F != 3 {
		t.Fatalf("inside lookback: %+v, %v", res, err)
	}
	// offset and @.
	res, err = e.Instant(ctx, `up{job="a"} offset 1m`, time.UnixMilli(120_000), QueryOpts{})
	if err != nil || len(res.Vector) != 1 || res.Vector[0].F != 2 || res.Vector[0].T != 120_000 {
		t.Fatalf("offset: %+v, %v", res, err)
	}
	res, err = e.Instant(ctx, `up{job="a"} @ 0`, time.UnixMilli(120_000), QueryOpts{})
	if err != nil || len(res.Vector) != 1 || res.Vector[0].F != 1 {
		t.Fatalf("@: %+v, %v", res, err)
	}

	// Range query: sorted series, points only where present.
	res, err = e.Range(ctx, `up`, time.UnixMilli(0), time.UnixMilli(120_000), time.Minute, QueryOpts{Stats: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != ValueMatrix || len(res.Matrix) != 2 {
		t.Fatalf("range: %+v", res)
	}
	if a := res.Matrix[0]; a.Metric.Get("job") != "a" || len(a.Floats) != 3 || a.Floats[2] != (FPoint{120_000, 3}) {
		t.Fatalf("range job=a: %+v", a)
	}
	if b := res.Matrix[1]; len(b.Floats) != 1 || b.Floats[0] != (FPoint{0, 10}) {
		t.Fatalf("range job=b: %+v", b)
	}
	if res.Stats == nil || res.Stats.TotalQueryableSamples == 0 {
		t.Fatalf("stats: %+v", res.Stats)
	}

	// Matrix selector in an instant query: the window is left-open.
	res, err = e.Instant(ctx, `up{job="a"}[1m]`, time.UnixMilli(120_000), QueryOpts{})
	if err != nil || res.Type != ValueMatrix || len(res.Matrix) != 1 || len(res.Matrix[0].Floats) != 1 {
		t.Fatalf("matrix: %+v, %v", res, err)
	}
}

func TestLiterals(t *testing.T) {
	e := NewEngine(testDB(t), Options{})
	res, err := e.Instant(context.Background(), `1.5`, time.UnixMilli(5000), QueryOpts{})
	if err != nil || res.Type != ValueScalar || res.Scalar != (FPoint{5000, 1.5}) {
		t.Fatalf("number: %+v, %v", res, err)
	}
	res, err = e.Instant(context.Background(), `"x"`, time.UnixMilli(5000), QueryOpts{})
	if err != nil || res.Type != ValueString || res.String != "x" {
		t.Fatalf("string: %+v, %v", res, err)
	}
	res, err = e.Range(context.Background(), `-(2)`, time.UnixMilli(0), time.UnixMilli(2000), time.Second, QueryOpts{})
	if err != nil || res.Type != ValueMatrix || len(res.Matrix) != 1 || len(res.Matrix[0].Floats) != 3 || res.Matrix[0].Floats[1] != (FPoint{1000, -2}) {
		t.Fatalf("range scalar: %+v, %v", res, err)
	}
}

func TestErrors(t *testing.T) {
	e := NewEngine(testDB(t), Options{})
	ctx := context.Background()
	_, err := e.Instant(ctx, `sum(`, time.Now(), QueryOpts{})
	var qe *Error
	if !errors.As(err, &qe) || qe.Kind != KindBadData {
		t.Fatalf("parse error: %v", err)
	}
	if want := `1:5: parse error: unclosed left parenthesis`; qe.Error() != want {
		t.Fatalf("parse error text %q, want %q", qe.Error(), want)
	}
	_, err = e.Range(ctx, `up[5m]`, time.UnixMilli(0), time.UnixMilli(1000), time.Second, QueryOpts{})
	if !errors.As(err, &qe) || qe.Kind != KindBadData {
		t.Fatalf("range of a matrix: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = e.Instant(cctx, `up`, time.Now(), QueryOpts{})
	if !errors.As(err, &qe) || qe.Kind != KindCanceled {
		t.Fatalf("canceled: %v", err)
	}
	dctx, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	_, err = e.Instant(dctx, `up`, time.Now(), QueryOpts{})
	if !errors.As(err, &qe) || qe.Kind != KindTimeout {
		t.Fatalf("timeout: %v", err)
	}
}

func TestMaxSamples(t *testing.T) {
	db := testDB(t)
	var ts []int64
	var fs []float64
	for i := range 100 {
		ts = append(ts, int64(i)*1000)
		fs = append(fs, float64(i))
	}
	appendSeries(t, db, testSeries{labels.FromStrings("__name__", "m"), ts, fs})
	e := NewEngine(db, Options{MaxSamples: 50})
	_, err := e.Instant(context.Background(), `m[100s]`, time.UnixMilli(99_000), QueryOpts{})
	var qe *Error
	if !errors.As(err, &qe) || qe.Kind != KindExecution || !errors.Is(err, ErrTooManySamples) {
		t.Fatalf("max samples: %v", err)
	}
	if _, err := e.Instant(context.Background(), `m[10s]`, time.UnixMilli(99_000), QueryOpts{}); err != nil {
		t.Fatalf("under the limit: %v", err)
	}
}

func TestConcurrencyLimitAndQueue(t *testing.T) {
	e := NewEngine(testDB(t), Options{MaxConcurrent: 1, MaxQueued: 1})
	e.slots <- struct{}{} // the one running query
	// A second query waits in the queue until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.Instant(ctx, `up`, time.Now(), QueryOpts{})
	var qe *Error
	if !errors.As(err, &qe) || qe.Kind != KindTimeout {
		t.Fatalf("queued query past its deadline: %v", err)
	}
	// With the queue full too, a query fails at once.
	e.queue <- struct{}{}
	_, err = e.Instant(context.Background(), `up`, time.Now(), QueryOpts{})
	if !errors.As(err, &qe) || qe.Kind != KindExecution || !errors.Is(err, ErrQueueFull) {
		t.Fatalf("full queue: %v", err)
	}
	<-e.queue
	// A waiting query runs as soon as the slot frees.
	done := make(chan error, 1)
	go func() {
		_, err := e.Instant(context.Background(), `1`, time.Now(), QueryOpts{})
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	<-e.slots
	if err := <-done; err != nil {
		t.Fatalf("queued query after the slot freed: %v", err)
	}
}

func TestAnnotationsReturned(t *testing.T) {
	db := testDB(t)
	appendSeries(t, db, testSeries{labels.FromStrings("__name__", "gauge"), []int64{0, 15_000, 30_000}, []float64{1, 2, 3}})
	e := NewEngine(db, Options{})
	res, err := e.Instant(context.Background(), `rate(gauge[1m])`, time.UnixMilli(30_000), QueryOpts{})
	if err != nil {
		t.Fatal(err)
	}
	want := `PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "gauge" (1:6)`
	if len(res.Infos) != 1 || res.Infos[0] != want {
		t.Fatalf("infos %q, want %q", res.Infos, want)
	}
	res, err = e.Instant(context.Background(), `quantile(2, gauge)`, time.UnixMilli(30_000), QueryOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || res.Warnings[0] != `PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)` {
		t.Fatalf("warnings %q", res.Warnings)
	}
}

func TestDuplicateLabelsetError(t *testing.T) {
	db := testDB(t)
	appendSeries(t, db,
		testSeries{labels.FromStrings("__name__", "a", "x", "1"), []int64{0}, []float64{1}},
		testSeries{labels.FromStrings("__name__", "b", "x", "1"), []int64{0}, []float64{2}},
	)
	e := NewEngine(db, Options{})
	_, err := e.Instant(context.Background(), `abs({x="1"})`, time.UnixMilli(0), QueryOpts{})
	var qe *Error
	if !errors.As(err, &qe) || qe.Kind != KindExecution || qe.Error() != "vector cannot contain metrics with the same labelset" {
		t.Fatalf("duplicate labelset: %v", err)
	}
}

func TestCancellationStopsRunningQuery(t *testing.T) {
	db := testDB(t)
	var ss []testSeries
	for i := range 200 {
		s := testSeries{lset: labels.FromStrings("__name__", "c_total", "i", strconv.Itoa(i))}
		for k := range 2000 {
			s.t = append(s.t, int64(k)*15_000)
			s.f = append(s.f, float64(k))
		}
		ss = append(ss, s)
	}
	appendSeries(t, db, ss...)
	e := NewEngine(db, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(5*time.Millisecond, cancel)
	began := time.Now()
	_, err := e.Range(ctx, `sum(rate(c_total[5m])) + sum(increase(c_total[1m])) + count(c_total)`, time.UnixMilli(0), time.UnixMilli(30_000_000), 15*time.Second, QueryOpts{})
	var qe *Error
	if err == nil {
		t.Skip("query finished before the cancellation (fast machine)")
	}
	if !errors.As(err, &qe) || qe.Kind != KindCanceled {
		t.Fatalf("canceled query: %v", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("cancellation took %s", d)
	}
}
