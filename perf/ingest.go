package perf

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// scenarioIngest: for each protocol (line protocol, remote write 1.0) and
// system, a fresh server first receives one scrape of newHosts hosts (every
// sample creates a series: "new series"), then existingHosts of those
// hosts send span of further scrapes as fast as the server takes them
// ("existing series"). Server CPU is utime+stime from /proc over each phase
// and the settling after it: peers acknowledge before they persist, and
// VictoriaMetrics goes on merging its index for the new series for tens of
// seconds, so after each phase the scenario waits (waitSettled, the same
// for every system) until the server's CPU has fallen below 5 % of a core
// over two 1 s windows (at most a minute): each phase's CPU includes the
// background work it caused and the existing-series phase starts on a
// quiet server. The time each phase took to settle is in the cell's
// params. The rate is the loadgen's acknowledged samples/s with 4
// connections; peak RSS is VmHWM.
func scenarioIngest(ctx context.Context, e *env) error {
	newHosts, existingHosts, span := 400, 100, 20*time.Minute
	if e.o.Quick {
		newHosts, existingHosts, span = 10, 5, 2*time.Minute
	}
	const sc = "ingest"
	protos := []loadgen.Protocol{loadgen.ProtocolInflux, loadgen.ProtocolRW1}
	metrics := []struct{ phase, metric, unit, better string }{
		{"existing series", "server CPU per 1M samples", "CPU-s", "lower"},
		{"existing series", "ingest rate", "samples/s", "higher"},
		{"existing series", "peak RSS", "MB", "lower"},
		{"new series", "server CPU per 1M new series", "CPU-s", "lower"},
		{"new series", "series creation rate", "series/s", "higher"},
	}
	caseName := func(p loadgen.Protocol, phase string) string { return string(p) + ", " + phase }
	params := map[string]any{"new_hosts": newHosts, "new_series": newHosts * 507,
		"existing_hosts": existingHosts, "existing_series": existingHosts * 507, "span": span.String(), "concurrency": 4, "batch": 5000}
	for _, s := range e.systems {
		for _, p := range protos {
			ok, why := s.Supports(p)
			if s.Bin == "" {
				ok, why = false, s.Missing
			}
			if !ok {
				for _, m := range metrics {
					e.skip(sc, caseName(p, m.phase), m.metric, m.unit, m.better, s, why)
				}
			}
		}
	}
	for run := range e.o.Runs {
		for _, p := range protos {
			for _, s := range e.systems {
				if ok, _ := s.Supports(p); !ok || s.Bin == "" {
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				// Timestamps end well before now: Prometheus refuses
				// samples beyond its head window, VictoriaMetrics future ones.
				start := e.o.Now().Add(-span - 10*time.Minute).UnixMilli()
				proc, err := s.Start(ctx, e.newDir(s.Name))
				if err != nil {
					return err
				}
				c0 := proc.CPU()
				sumNew, err := e.load(ctx, proc, loadgen.Config{Workload: loadgen.WorkloadBackfill, Protocol: p,
					Hosts: newHosts, Seed: 1, Start: start, BackfillRange: 15 * time.Second})
				if err != nil {
					proc.Kill()
					return fmt.Errorf("%s %s new series: %w", s.Name, p, err)
				}
				settleNew, _ := e.waitSettled(proc, "new series")
				c1 := proc.CPU()
				sumOld, err := e.load(ctx, proc, loadgen.Config{Workload: loadgen.WorkloadBackfill, Protocol: p,
					Hosts: existingHosts, Seed: 1, Start: start + 15_000, BackfillRange: span})
				if err != nil {
					proc.Kill()
					return fmt.Errorf("%s %s existing series: %w", s.Name, p, err)
				}
				settleOld, _ := e.waitSettled(proc, "existing series")
				c2 := proc.CPU()
				_, peak := proc.RSS()
				if err := proc.Stop(); err != nil {
					return err
				}
				newSeries := float64(sumNew.Samples) // one sample per new series
				params := maps.Clone(params)
				params["settle_new_s"], params["settle_existing_s"] = settleNew.Seconds(), settleOld.Seconds()
				e.cell(sc, caseName(p, "existing series"), "server CPU per 1M samples", "CPU-s", "lower", s, run, (c2-c1)/float64(sumOld.Samples)*1e6, params)
				e.cell(sc, caseName(p, "existing series"), "ingest rate", "samples/s", "higher", s, run, sumOld.SamplesPerSecond, params)
				e.cell(sc, caseName(p, "existing series"), "peak RSS", "MB", "lower", s, run, float64(peak)/mb, params)
				e.cell(sc, caseName(p, "new series"), "server CPU per 1M new series", "CPU-s", "lower", s, run, (c1-c0)/newSeries*1e6, params)
				e.cell(sc, caseName(p, "new series"), "series creation rate", "series/s", "higher", s, run, sumNew.SamplesPerSecond, params)
				e.logf("ingest run %d %s %s: %.3f CPU-s/1M existing, %s samples/s, %.3f CPU-s/1M new series, peak RSS %d MB",
					run, p, s.Label, (c2-c1)/float64(sumOld.Samples)*1e6, fmtNum(sumOld.SamplesPerSecond), (c1-c0)/newSeries*1e6, peak/mb)
			}
		}
	}
	return nil
}
