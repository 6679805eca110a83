package difftest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/silverback-tsdb/tsdb/loadgen"
	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/queryexec"
	"github.com/silverback-tsdb/tsdb/stages"
)

// The benchmark data: BENCH_HOSTS node_exporter hosts from the loadgen
// generator (507 series each) plus a classic histogram per host (10
// handlers x 11 buckets), scraped every 15 s for BENCH_DAYS days, written
// to both Silverback (through pipeline, then compacted into blocks) and
// Prometheus's own TSDB (compacted into blocks). Each query runs on both
// engines in the same process over the same samples.

type benchEnv struct {
	ours       *queryexec.Engine
	prom       *promql.Engine
	promDB     *tsdb.DB
	start, end int64
	samples    int
	series     int
}

var (
	benchOnce sync.Once
	bench     *benchEnv
	benchErr  error
)

var histBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

func setupBench(b *testing.B) *benchEnv {
	benchOnce.Do(func() { bench, benchErr = buildBench() })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return bench
}

func buildBench() (*benchEnv, error) {
	hosts := envInt("BENCH_HOSTS", 2)
	days := envInt("BENCH_DAYS", 1)
	dir, err := os.MkdirTemp("", "difftest-bench-")
	if err != nil {
		return nil, err
	}
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: hosts, Seed: 1})
	if err != nil {
		return nil, err
	}
	scrapes := days * 24 * 240
	ns := g.NumSeries()
	lsets := make([]labels.Labels, 0, ns+hosts*10*11)
	for i := range ns {
		lsets = append(lsets, g.Labels(i))
	}
	for h := range hosts {
		for hd := range 10 {
			for bi := 0; bi <= len(histBounds); bi++ {
				le := "+Inf"
				if bi < len(histBounds) {
					le = strconv.FormatFloat(histBounds[bi], 'f', -1, 64)
				}
				lsets = append(lsets, labels.FromStrings("__name__", "http_request_duration_seconds_bucket",
					"handler", fmt.Sprintf("/api/%d", hd), "instance", fmt.Sprintf("host-%d:9100", 10000+h), "job", "node", "le", le))
			}
		}
	}
	db, err := pipeline.Open(dir+"/silverback", pipeline.Options{HeadGCInterval: -1})
	if err != nil {
		return nil, err
	}
	popts := tsdb.DefaultOptions()
	popts.RetentionDuration = 0
	pdb, err := tsdb.Open(dir+"/prometheus", nil, nil, popts, nil)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	var batch stages.Batch
	refs := make([]uint32, len(lsets))
	hist := make([]float64, hosts*10*11)
	buf := make([]loadgen.Sample, 0, ns)
	env := &benchEnv{series: len(lsets)}
	first := true
	for k := range scrapes {
		buf = g.Next(buf[:0])
		batch.Reset()
		for i, l := range lsets {
			refs[i] = batch.AddSeries(l, nil)
		}
		app := pdb.Appender(ctx)
		var t int64
		for _, s := range buf {
			batch.AddSample(refs[s.Series], s.T, s.V)
			if _, err := app.Append(0, lsets[s.Series], s.T, s.V); err != nil {
				return nil, err
			}
			t = s.T
		}
		// Histogram: cumulative counts growing by a deterministic amount.
		for i := range hist {
			bi := i % 11
			hist[i] += float64((k%7+1)*(bi+1)) * 1.5
			batch.AddSample(refs[ns+i], t, hist[i])
			if _, err := app.Append(0, lsets[ns+i], t, hist[i]); err != nil {
				return nil, err
			}
		}
		if err := app.Commit(); err != nil {
			return nil, err
		}
		st, err := db.Append(ctx, &batch)
		if err != nil {
			return nil, err
		}
		if st.Rejected() > 0 {
			return nil, fmt.Errorf("rejected %+v", st)
		}
		if first {
			env.start = t
			first = false
		}
		env.end = t
		env.samples += len(buf) + len(hist)
	}
	if err := db.Compact(ctx, true); err != nil {
		return nil, err
	}
	if err := pdb.Compact(ctx); err != nil {
		return nil, err
	}
	env.ours = queryexec.NewEngine(db, queryexec.Options{})
	env.prom = promEngine()
	env.promDB = pdb
	fmt.Fprintf(os.Stderr, "bench data: %d series, %d samples, %d..%d\n", env.series, env.samples, env.start, env.end)
	return env, nil
}

type benchQuery struct {
	name    string
	q       string
	step    time.Duration // 0: instant at the end
	instant bool
}

var benchQueries = []benchQuery{
	{"sum_rate_step1h", `sum(rate(node_cpu_seconds_total[5m]))`, time.Hour, false},
	{"sum_rate_step5m", `sum(rate(node_cpu_seconds_total[5m]))`, 5 * time.Minute, false},
	{"rate_step5m", `rate(node_network_receive_bytes_total[5m])`, 5 * time.Minute, false},
	{"raw_range_1h", `node_cpu_seconds_total[1h]`, 0, true},
	{"topk10_step5m", `topk(10, rate(node_network_receive_bytes_total[5m]))`, 5 * time.Minute, false},
	{"sum_by_instance_step5m", `sum by (instance) (rate(node_cpu_seconds_total[5m]))`, 5 * time.Minute, false},
	{"histogram_quantile_step5m", `histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))`, 5 * time.Minute, false},
	{"name_regex_count_step1h", `count by (job) ({__name__=~"node_.+"})`, time.Hour, false},
	{"instant_sum_by_mode", `sum by (mode) (rate(node_cpu_seconds_total[5m]))`, 0, true},
}

func BenchmarkQueries(b *testing.B) {
	env := setupBench(b)
	ctx := context.Background()
	start, end := time.UnixMilli(env.start), time.UnixMilli(env.end)
	for _, bq := range benchQueries {
		b.Run(bq.name+"/silverback", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				var err error
				if bq.instant {
					_, err = env.ours.Instant(ctx, bq.q, end, queryexec.QueryOpts{})
				} else {
					// NoCache: the same window every iteration would be a
					// result-cache hit; this measures the evaluation.
					_, err = env.ours.Range(ctx, bq.q, start, end, bq.step, queryexec.QueryOpts{NoCache: true})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bq.name+"/prometheus", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				var q promql.Query
				var err error
				if bq.instant {
					q, err = env.prom.NewInstantQuery(ctx, env.promDB, nil, bq.q, end)
				} else {
					q, err = env.prom.NewRangeQuery(ctx, env.promDB, nil, bq.q, start, end, bq.step)
				}
				if err != nil {
					b.Fatal(err)
				}
				res := q.Exec(ctx)
				if res.Err != nil {
					b.Fatal(res.Err)
				}
				q.Close()
			}
		})
	}
}

// reportCPU reports the process's CPU time (user+system) per operation as
// cpu-ms/op, beside the wall time: on the shared, loaded machine wall time
// includes waiting for a core, CPU time does not. Call as defer
// reportCPU(b)().
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		}
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
