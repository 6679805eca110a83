package perf

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// scenarioCompression: bytes per sample on disk (every file of the data
// directory, as allocated blocks) for the node workload (2 hosts: 1,014
// series, over span) and for the real capture replayed by 2 hosts, each
// into a fresh server over one connection (so that no host runs ahead of
// the others into a time range the server has already persisted):
//
//   - "persisted": Silverback and VictoriaMetrics after a clean stop
//     (Silverback: blocks, head snapshot, WAL; VictoriaMetrics: every
//     in-memory part flushed); InfluxDB once its cache is snapshotted
//     (cold after 2 s) and the directory is quiet; Prometheus as it is
//     (head and WAL: it cuts blocks on its own schedule).
//   - "compacted": Silverback after `tsdb compact --head` (the head
//     persisted as blocks, every due compaction run, WAL truncated);
//     VictoriaMetrics restarted, /internal/force_merge, merges finished,
//     stopped; InfluxDB after its full compaction (cold after 5 s), a quiet
//     directory and a stop; Prometheus unchanged.
func scenarioCompression(ctx context.Context, e *env) error {
	const sc = "compression"
	nodeSpan, replaySpan := 7*24*time.Hour, 24*time.Hour
	if e.o.Quick {
		nodeSpan, replaySpan = 6*time.Hour, time.Hour
	}
	type dataset struct {
		name string
		cfg  loadgen.Config
	}
	sets := []dataset{{fmt.Sprintf("node, %d series × %s", 2*507, fmtSpan(nodeSpan)),
		loadgen.Config{Workload: loadgen.WorkloadBackfill, Hosts: 2, Seed: 1, BackfillRange: nodeSpan, Concurrency: 1}}}
	if e.capture != nil {
		sets = append(sets, dataset{fmt.Sprintf("real capture replayed, %d series × %s", 2*e.capture.Series(), fmtSpan(replaySpan)),
			loadgen.Config{Workload: loadgen.WorkloadReplay, Capture: e.capture, Hosts: 2, Seed: 1, Unpaced: true, BackfillRange: replaySpan, Concurrency: 1}})
	} else {
		for _, s := range e.systems {
			e.skip(sc, "real capture replayed", "bytes per sample, persisted", "B", "lower", s, "no capture file given (--capture)")
		}
	}
	phases := []string{"persisted", "compacted"}
	for run := range e.o.Runs {
		for _, ds := range sets {
			for _, s := range e.systems {
				if s.Bin == "" {
					if run == 0 {
						for _, ph := range phases {
							e.skip(sc, ds.name, "bytes per sample, "+ph, "B", "lower", s, s.Missing)
						}
					}
					continue
				}
				if s.backfillLimit > 0 && ds.cfg.BackfillRange > s.backfillLimit {
					if run == 0 {
						for _, ph := range phases {
							e.skip(sc, ds.name, "bytes per sample, "+ph, "B", "lower", s, fmt.Sprintf(
								"%s's remote write refuses samples older than its head window (~%s): a %s history needs offline backfill",
								s.Label, s.backfillLimit, fmtSpan(ds.cfg.BackfillRange)))
						}
					}
					continue
				}
				p, _ := protocolFor(s, loadgen.ProtocolInflux, loadgen.ProtocolRW1)
				if err := ctx.Err(); err != nil {
					return err
				}
				c := ds.cfg
				c.Protocol = p
				c.Start = e.o.Now().Add(-c.BackfillRange - time.Hour).UnixMilli()
				dir := e.newDir(s.Name)
				proc, err := s.Start(ctx, dir)
				if err != nil {
					return err
				}
				sum, err := e.load(ctx, proc, c)
				if err != nil {
					proc.Kill()
					return fmt.Errorf("%s %s: %w", s.Name, ds.name, err)
				}
				n := float64(sum.Samples)
				var persisted, compacted int64
				switch s.Name {
				case "silverback":
					if err := proc.Stop(); err != nil {
						return err
					}
					persisted = dirBytes(dir)
					cmd := exec.CommandContext(ctx, s.Bin, "--log-level=warn", "compact", "--data-dir="+dir, "--head")
					if out, err := cmd.CombinedOutput(); err != nil {
						return fmt.Errorf("tsdb compact: %w: %s", err, out)
					}
					compacted = dirBytes(dir)
					bs, err := blocks(dir)
					if err != nil {
						return err
					}
					var inBlocks int64
					for _, b := range bs {
						inBlocks += b.bytes
					}
					// What the blocks alone take: the rest of the directory
					// is head state (mapped head chunk files, snapshot, WAL).
					e.cell(sc, ds.name, "bytes per sample, compacted, blocks only", "B", "lower", s, run, float64(inBlocks)/float64(sum.Samples),
						map[string]any{"samples": sum.Samples, "bytes_blocks": inBlocks})
				case "victoriametrics":
					// A clean stop flushes every in-memory part; merges
					// are then asked for on a restarted server and waited
					// for through vm_active_merges.
					if err := proc.Stop(); err != nil {
						return err
					}
					persisted = dirBytes(dir)
					if proc, err = s.Start(ctx, dir); err != nil {
						return err
					}
					if err := s.merge(proc); err != nil {
						proc.Kill()
						return err
					}
					waitMerges(proc, 10*time.Minute)
					if err := proc.Stop(); err != nil {
						return err
					}
					compacted = dirBytes(dir)
				default:
					// InfluxDB snapshots its cache after 2 s without writes
					// and fully compacts a shard after 5 s (the environment
					// set in influxDB()); Prometheus keeps the last hours in
					// its head and WAL whatever is asked.
					// (InfluxDB's directory never stays quiet for long:
					// its compaction planner touches files; the waits are
					// therefore bounded and its final size read after a stop.)
					persisted = waitStable(dir, 3*time.Second, 30*time.Second)
					time.Sleep(10 * time.Second)
					if err := proc.Stop(); err != nil {
						return err
					}
					compacted = dirBytes(dir)
				}
				params := map[string]any{"samples": sum.Samples, "protocol": p, "hosts": c.Hosts, "span": c.BackfillRange.String(),
					"bytes_persisted": persisted, "bytes_compacted": compacted}
				e.cell(sc, ds.name, "bytes per sample, persisted", "B", "lower", s, run, float64(persisted)/n, params)
				e.cell(sc, ds.name, "bytes per sample, compacted", "B", "lower", s, run, float64(compacted)/n, params)
				e.logf("compression run %d %s %s: %d samples, %.3f B/sample persisted, %.3f compacted",
					run, ds.name, s.Label, sum.Samples, float64(persisted)/n, float64(compacted)/n)
			}
		}
	}
	return nil
}

func fmtSpan(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0 && d >= 7*24*time.Hour && d%(7*24*time.Hour) == 0:
		return fmt.Sprintf("%d week", d/(7*24*time.Hour))
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d day", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return d.String()
}
