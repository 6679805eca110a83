package perf

import (
	"context"
	"fmt"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// scenarioMemory: a fresh server receives two scrapes (30 s) of enough
// node_exporter-like hosts for each series count; once it has settled
// (waitSettled: its CPU below 5 % of a core over two 1 s windows, the same
// for every system, so that merges and flushes of what it was sent are
// done), its RSS (VmRSS; also less the RSS it had idle, right after start)
// and, for servers that export Go's runtime metrics, its heap in use
// (go_memstats_heap_inuse_bytes from /metrics) are divided by the active
// series.
//
// Memory per series moves with the chunk cycle: an open chunk grows with
// every sample until it is cut (Silverback and Prometheus at 120 samples).
// So the smallest series count is also measured along it, on the same
// server: after its first scrape, after the two of the case above, and
// after 10, 60 and 120 scrapes in all ("… after N scrapes").
func scenarioMemory(ctx context.Context, e *env) error {
	const sc = "memory"
	sizes := []int{100_000, 500_000, 1_000_000}
	cycle := []int{1, 10, 60, 120} // scrapes in all (2 is the size's own case)
	if e.o.Quick {
		sizes, cycle = []int{10_000}, []int{1, 4}
	}
	const interval = 15 * time.Second // loadgen's default scrape interval
	caseName := func(n int) string { return fmtNum(float64(n)) + " active series" }
	cycleCase := func(n, scrapes int) string {
		return fmt.Sprintf("%s, after %d scrape%s", caseName(n), scrapes, map[bool]string{true: "s"}[scrapes != 1])
	}
	metrics := []string{"RSS per series", "RSS above idle per series", "Go heap per series"}
	var cases []string
	for i, n := range sizes {
		if i == 0 {
			for _, k := range cycle {
				cases = append(cases, cycleCase(n, k))
			}
		}
		cases = append(cases, caseName(n))
	}
	for _, s := range e.systems {
		for _, cs := range cases {
			switch {
			case s.Bin == "":
				for _, m := range metrics {
					e.skip(sc, cs, m, "B", "lower", s, s.Missing)
				}
			case s.heapMetric == "":
				e.skip(sc, cs, metrics[2], "B", "lower", s, s.Label+" is not written in Go's runtime metrics format (no go_memstats_heap_inuse_bytes)")
			}
		}
	}
	for run := range e.o.Runs {
		for i, n := range sizes {
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
				// Every scrape lies in the last 45 minutes: Prometheus
				// refuses samples outside its head window, VictoriaMetrics
				// future ones.
				start := e.o.Now().Add(-45 * time.Minute).Truncate(interval)
				done := 0 // scrapes sent so far
				var samples int64
				series := float64(hosts * 507)
				// scrapeTo sends scrapes done+1 … k, lets the server settle
				// and records the three cells of cs.
				scrapeTo := func(k int, cs string) error {
					sum, err := e.load(ctx, proc, loadgen.Config{Workload: loadgen.WorkloadBackfill, Protocol: p, Hosts: hosts, Seed: 1,
						Start: start.Add(time.Duration(done) * interval).UnixMilli(), BackfillRange: time.Duration(k-done) * interval})
					if err != nil {
						return fmt.Errorf("%s %s: %w", s.Name, cs, err)
					}
					done, samples = k, samples+sum.Samples
					settled, _ := e.waitSettled(proc, cs)
					rss, _ := proc.RSS()
					params := map[string]any{"series": hosts * 507, "samples": samples, "scrapes": k, "protocol": p,
						"rss_bytes": rss, "idle_rss_bytes": idle, "settled_s": settled.Seconds()}
					e.cell(sc, cs, metrics[0], "B", "lower", s, run, float64(rss)/series, params)
					e.cell(sc, cs, metrics[1], "B", "lower", s, run, float64(rss-idle)/series, params)
					heap := 0.0
					if s.heapMetric != "" {
						var ok bool
						if heap, ok = proc.Metric(s.heapMetric); ok {
							e.cell(sc, cs, metrics[2], "B", "lower", s, run, heap/series, params)
						}
					}
					e.logf("memory run %d %s %s: RSS %d MB (%.0f B/series), heap %.0f MB", run, cs, s.Label, rss/mb, float64(rss)/series, heap/mb)
					return nil
				}
				steps := []memoryStep{{2, caseName(n)}}
				if i == 0 {
					steps = steps[:0]
					for _, k := range cycle {
						if k > 2 && (len(steps) == 0 || steps[len(steps)-1].scrapes < 2) {
							steps = append(steps, memoryStep{2, caseName(n)})
						}
						steps = append(steps, memoryStep{k, cycleCase(n, k)})
					}
				}
				for _, st := range steps {
					if err := scrapeTo(st.scrapes, st.cs); err != nil {
						proc.Kill()
						return err
					}
				}
				if err := proc.Stop(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// memoryStep is a point of the memory scenario: the scrapes sent in all
// when the case is measured.
type memoryStep struct {
	scrapes int
	cs      string
}
