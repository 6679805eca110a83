package queryexec

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// BenchmarkDataDir runs the benchmark queries of `tsdb perf query` over a
// copy of an existing data directory: TSDB_BENCH_DIR names it (e.g. one a
// server filled with `tsdb loadgen --workload=backfill --hosts=2
// --histograms`), TSDB_BENCH_END the queries' end in Unix seconds (the
// week before it is queried). Skipped without them. Every range query is
// evaluated in full (NoCache), as a server's first run of it.
func BenchmarkDataDir(b *testing.B) {
	src, endS := os.Getenv("TSDB_BENCH_DIR"), os.Getenv("TSDB_BENCH_END")
	if src == "" || endS == "" {
		b.Skip("TSDB_BENCH_DIR and TSDB_BENCH_END are not set")
	}
	endU, err := strconv.ParseInt(endS, 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "data")
	if out, err := exec.Command("cp", "-a", src, dir).CombinedOutput(); err != nil {
		b.Fatalf("copy %s: %v: %s", src, err, out)
	}
	db, err := pipeline.Open(dir, pipeline.Options{Logger: zap.NewNop(), HeadGCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	e := NewEngine(db, Options{})
	end := time.Unix(endU, 0)
	start := end.Add(-7 * 24 * time.Hour)
	for _, q := range []struct {
		name, q string
		step    time.Duration // 0: instant at end
	}{
		{"histogram_quantile", `histogram_quantile(0.9, sum by (le)(rate(http_request_duration_seconds_bucket[5m])))`, 5 * time.Minute},
		{"sum_rate_step1h", `sum(rate(node_cpu_seconds_total[5m]))`, time.Hour},
		{"sum_rate_step5m", `sum(rate(node_cpu_seconds_total[5m]))`, 5 * time.Minute},
		{"rate_step5m", `rate(node_network_receive_bytes_total[5m])`, 5 * time.Minute},
		{"raw_range_1h", `node_cpu_seconds_total[1h]`, 0},
		{"topk10_step5m", `topk(10, rate(node_cpu_seconds_total[5m]))`, 5 * time.Minute},
		{"sum_by_instance_step5m", `sum by (instance)(rate(node_cpu_seconds_total[5m]))`, 5 * time.Minute},
		{"name_regex_count_step1h", `count({__name__=~"node_.+"})`, time.Hour},
		{"instant_sum_by_mode", `sum by (mode)(rate(node_cpu_seconds_total[5m]))`, 0},
	} {
		b.Run("query="+q.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				var err error
				if q.step == 0 {
					_, err = e.Instant(ctx, q.q, end, QueryOpts{})
				} else {
					_, err = e.Range(ctx, q.q, start, end, q.step, QueryOpts{NoCache: true})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}

// processCPU is the process's user+system CPU time (getrusage): on the
// shared machine wall time includes waiting for a core, CPU time does not.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
