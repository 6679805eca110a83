package perf

import (
	"context"
	"fmt"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// scenarioRestart: a fresh server receives hosts × scrapes samples (10.1 M
// in the full run, within the last hour so that every peer keeps them in
// its head/WAL), is killed with SIGKILL, and is started again: the time
// from exec to the first 2xx on its ready endpoint (Silverback and
// Prometheus answer 503 there while they replay) is "after SIGKILL". It is
// then stopped with SIGINT and started again: "after a clean stop".
// "100 blocks": a new data directory gets 100 blocks of 2 h and an empty
// head written offline (manyBlocks: Silverback in process, one shard;
// Prometheus with promtool), and the server's first start on it is timed
// the same way; VictoriaMetrics and InfluxDB have no blocks to generate.
func scenarioRestart(ctx context.Context, e *env) error {
	const sc = "restart"
	hosts, scrapes := 100, 200
	if e.o.Quick {
		hosts, scrapes = 5, 20
	}
	samples := hosts * 507 * scrapes
	walCase := fmt.Sprintf("WAL of %s samples", fmtNum(float64(samples)))
	metrics := []string{"start to ready after SIGKILL", "start to ready after a clean stop"}
	for _, s := range e.systems {
		if s.Bin == "" {
			for _, m := range metrics {
				e.skip(sc, walCase, m, "s", "lower", s, s.Missing)
			}
		}
	}
	mb := manyBlocks{n: 100, blockRange: 2 * time.Hour, interval: time.Minute}
	if e.o.Quick {
		mb.n = 10
	}
	blocksCase := fmt.Sprintf("%d blocks (%d series × %d h, 1 min scrapes)", mb.n, 507, mb.n*2)
	const blocksMetric = "start to ready after a clean stop"
	for _, s := range e.systems {
		switch {
		case s.Bin == "":
			e.skip(sc, blocksCase, blocksMetric, "s", "lower", s, s.Missing)
		case s.Family == "victoriametrics":
			e.skip(sc, blocksCase, blocksMetric, "s", "lower", s,
				"has no blocks: it stores parts it merges on its own schedule; nothing comparable to 100 blocks to generate")
		case s.Family == "influxdb":
			e.skip(sc, blocksCase, blocksMetric, "s", "lower", s,
				"stores TSM files in 7-day shard groups it compacts on its own; nothing comparable to 100 blocks to generate")
		case s.Family == "prometheus":
			if _, err := promtool(s.Bin); err != nil {
				e.skip(sc, blocksCase, blocksMetric, "s", "lower", s, err.Error())
			}
		}
	}
	for run := range e.o.Runs {
		for _, s := range e.systems {
			if s.Bin == "" {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			p, _ := protocolFor(s, loadgen.ProtocolRW1, loadgen.ProtocolInflux)
			span := time.Duration(scrapes) * 15 * time.Second
			dir := e.newDir(s.Name)
			proc, err := s.Start(ctx, dir)
			if err != nil {
				return err
			}
			sum, err := e.load(ctx, proc, loadgen.Config{Workload: loadgen.WorkloadBackfill, Protocol: p, Hosts: hosts, Seed: 1,
				Start: e.o.Now().Add(-span - 5*time.Minute).UnixMilli(), BackfillRange: span})
			if err != nil {
				proc.Kill()
				return fmt.Errorf("%s: %w", s.Name, err)
			}
			// VictoriaMetrics and InfluxDB buffer acknowledged rows for up to
			// a second before their WAL-less / WAL write: let them land.
			time.Sleep(time.Second + e.settle())
			proc.Kill()
			if proc, err = s.Start(ctx, dir); err != nil {
				return fmt.Errorf("%s after SIGKILL: %w", s.Name, err)
			}
			crash := proc.Ready
			if err := proc.Stop(); err != nil {
				return err
			}
			if proc, err = s.Start(ctx, dir); err != nil {
				return fmt.Errorf("%s after a clean stop: %w", s.Name, err)
			}
			clean := proc.Ready
			if err := proc.Stop(); err != nil {
				return err
			}
			params := map[string]any{"samples": sum.Samples, "series": hosts * 507, "protocol": p}
			e.cell(sc, walCase, metrics[0], "s", "lower", s, run, crash.Seconds(), params)
			e.cell(sc, walCase, metrics[1], "s", "lower", s, run, clean.Seconds(), params)
			e.logf("restart run %d %s: %s after SIGKILL, %s after a clean stop (%d samples)", run, s.Label,
				crash.Round(time.Millisecond), clean.Round(time.Millisecond), sum.Samples)

			// n blocks and an empty head, written offline; the server's
			// first start on them is timed.
			var samples int64
			var nBlocks int
			bdir := e.newDir(s.Name + "-blocks")
			switch s.Family {
			case "silverback":
				samples, nBlocks, err = mb.silverback(ctx, bdir, e.o.Now())
			case "prometheus":
				tool, terr := promtool(s.Bin)
				if terr != nil {
					continue
				}
				samples, nBlocks, err = mb.prometheus(ctx, tool, bdir, e.o.Now())
			default:
				continue
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", s.Name, blocksCase, err)
			}
			if proc, err = s.Start(ctx, bdir); err != nil {
				return fmt.Errorf("%s on %d blocks: %w", s.Name, nBlocks, err)
			}
			ready := proc.Ready
			if err := proc.Stop(); err != nil {
				return err
			}
			e.cell(sc, blocksCase, blocksMetric, "s", "lower", s, run, ready.Seconds(),
				map[string]any{"samples": samples, "blocks": nBlocks, "series": 507})
			e.logf("restart run %d %s: %s to ready on %d blocks (%d samples)", run, s.Label, ready.Round(time.Millisecond), nBlocks, samples)
		}
	}
	return nil
}
