package perf

import (
	"context"
	"fmt"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// scenarioMemory: a fresh server receives two scrapes (30 s) of enough
// node_exporter-like hosts for each series count; after settle, its RSS
// (VmRSS; also less the RSS it had idle, right after start) and, for
// servers that export Go's runtime metrics, its heap in use
// (go_memstats_heap_inuse_bytes from /metrics) are divided by the active
// series.
func scenarioMemory(ctx context.Context, e *env) error {
	const sc = "memory"
	sizes := []int{100_000, 500_000, 1_000_000}
	if e.o.Quick {
		sizes = []int{10_000}
	}
	caseName := func(n int) string { return fmtNum(float64(n)) + " active series" }
	for _, s := range e.systems {
		if s.Bin == "" {
			for _, n := range sizes {
				e.skip(sc, caseName(n), "RSS per series", "B", "lower", s, s.Missing)
				e.skip(sc, caseName(n), "RSS above idle per series", "B", "lower", s, s.Missing)
				e.skip(sc, caseName(n), "Go heap per series", "B", "lower", s, s.Missing)
			}
		} else if s.heapMetric == "" {
			for _, n := range sizes {
				e.skip(sc, caseName(n), "Go heap per series", "B", "lower", s, s.Label+" is not written in Go's runtime metrics format (no go_memstats_heap_inuse_bytes)")
			}
		}
	}
	for run := range e.o.Runs {
		for _, n := range sizes {
			hosts := (n + 506) / 507
			for _, s := range e.systems {
				if s.Bin == "" {
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				p, _ := protocolFor(s, loadgen.ProtocolRW1, loadgen.ProtocolInflux)
				proc, err := s.Start(ctx, e.newDir(s.Name))
				if err != nil {
					return err
				}
				time.Sleep(e.settle())
				idle, _ := proc.RSS()
				sum, err := e.load(ctx, proc, loadgen.Config{Workload: loadgen.WorkloadBackfill, Protocol: p, Hosts: hosts, Seed: 1,
					Start: e.o.Now().Add(-20 * time.Minute).UnixMilli(), BackfillRange: 30 * time.Second})
				if err != nil {
					proc.Kill()
					return fmt.Errorf("%s %d series: %w", s.Name, n, err)
				}
				time.Sleep(2 * e.settle())
				rss, _ := proc.RSS()
				series := float64(hosts * 507)
				params := map[string]any{"series": hosts * 507, "samples": sum.Samples, "protocol": p, "rss_bytes": rss}
				params["idle_rss_bytes"] = idle
				e.cell(sc, caseName(n), "RSS per series", "B", "lower", s, run, float64(rss)/series, params)
				e.cell(sc, caseName(n), "RSS above idle per series", "B", "lower", s, run, float64(rss-idle)/series, params)
				heap, ok := 0.0, false
				if s.heapMetric != "" {
					if heap, ok = proc.Metric(s.heapMetric); ok {
						e.cell(sc, caseName(n), "Go heap per series", "B", "lower", s, run, heap/series, params)
					}
				}
				if err := proc.Stop(); err != nil {
					return err
				}
				e.logf("memory run %d %s %s: RSS %d MB (%.0f B/series), heap %.0f MB", run, caseName(n), s.Label, rss/mb, float64(rss)/series, heap/mb)
			}
		}
	}
	return nil
}
