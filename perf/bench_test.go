package perf

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// BenchmarkIngestHTTP: the ingest scenario's "existing series" cell as a
// Go benchmark, Silverback only: one op is one 15 s scrape of 100 hosts
// (50,700 samples, series created before the timer) sent over each
// protocol, 4 connections, to a tsdb server built from this tree; reports
// samples/s and the server's CPU-seconds per million samples (the client
// runs in the benchmark's process, on the same cores).
//
//	go test -run '^$' -bench IngestHTTP -benchtime 200x -count 5 ./perf/
func BenchmarkIngestHTTP(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "tsdb")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tsdb")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v: %s", err, out)
	}
	for _, p := range []loadgen.Protocol{loadgen.ProtocolInflux, loadgen.ProtocolRW1} {
		b.Run("protocol="+string(p), func(b *testing.B) {
			e := &env{o: Options{Now: time.Now}, work: b.TempDir(), rec: &recorder{}}
			s := silverback(bin)
			proc, err := s.Start(context.Background(), e.newDir(s.Name))
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = proc.Stop() }()
			const hosts = 100
			start := time.Now().Add(-time.Hour).UnixMilli()
			cfg := loadgen.Config{Workload: loadgen.WorkloadBackfill, Protocol: p, Hosts: hosts, Seed: 1,
				Start: start, BackfillRange: 15 * time.Second}
			if _, err := e.load(context.Background(), proc, cfg); err != nil {
				b.Fatal(err)
			}
			// One loadgen run for all b.N scrapes: its setup (encoding every
			// series' labels) stays out of the timing per op.
			cfg.Start += 15_000
			cfg.BackfillRange = time.Duration(b.N) * 15 * time.Second
			cpu0 := proc.CPU()
			b.ResetTimer()
			sum, err := e.load(context.Background(), proc, cfg)
			if err != nil {
				b.Fatal(err)
			}
			samples := sum.Samples
			b.StopTimer()
			cpu := proc.CPU() - cpu0
			b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(cpu/float64(samples)*1e6, "server-CPU-s/1M")
			b.ReportMetric(0, "ns/op")
		})
	}
}
