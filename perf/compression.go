package perf

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
//   - "compacted, long-term files only": of the compacted directory, only
//     the files that hold persisted samples and their index, without
//     write-ahead logs, head files and caches — Silverback's
//     shards/*/blocks, VictoriaMetrics's data and indexdb, InfluxDB's
//     data (TSM and index), Prometheus's block directories. This is what
//     the storage format costs; the whole directory is what the disk pays
//     (Silverback's difference is the head chunk files, which keep their
//     chunks after the head was persisted as blocks).
//
// Every cell's params break the directory down by top-level entry (two
// levels under shards/) and, where the system reports it, hold the
// samples it stores (Silverback: the blocks' numSamples; VictoriaMetrics:
// vm_rows of its parts), so a system that dropped or deduplicated samples
// shows.
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
	phases := []string{"persisted", "compacted", "compacted, long-term files only"}
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
				stored := int64(-1) // samples the system reports holding, -1: not known
				switch s.Family {
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
					stored = 0
					for _, b := range bs {
						stored += int64(b.samples)
					}
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
					// Rows in its parts (deduplication is off by default:
					// every sample sent is a row).
					if v, ok := proc.MetricPrefix(`vm_rows{type="storage/`); ok {
						stored = int64(v)
					}
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
				longTerm := longTermBytes(s, dir)
				if stored >= 0 && stored != sum.Samples {
					e.logf("compression run %d %s %s: holds %d samples of the %d sent", run, ds.name, s.Label, stored, sum.Samples)
				}
				params := map[string]any{"samples": sum.Samples, "protocol": p, "hosts": c.Hosts, "span": c.BackfillRange.String(),
					"bytes_persisted": persisted, "bytes_compacted": compacted, "bytes_long_term": longTerm, "by_top_dir": topDirBytes(dir)}
				if stored >= 0 {
					params["samples_stored"] = stored
				}
				e.cell(sc, ds.name, "bytes per sample, persisted", "B", "lower", s, run, float64(persisted)/n, params)
				e.cell(sc, ds.name, "bytes per sample, compacted", "B", "lower", s, run, float64(compacted)/n, params)
				e.cell(sc, ds.name, "bytes per sample, compacted, long-term files only", "B", "lower", s, run, float64(longTerm)/n, params)
				e.logf("compression run %d %s %s: %d samples, %.3f B/sample persisted, %.3f compacted, %.3f long-term files only",
					run, ds.name, s.Label, sum.Samples, float64(persisted)/n, float64(compacted)/n, float64(longTerm)/n)
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

// longTermBytes is the part of a compacted data directory that holds
// persisted samples and their index (see scenarioCompression).
func longTermBytes(s *System, dir string) int64 {
	var n int64
	sum := func(pattern string) {
		ms, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, m := range ms {
			n += dirBytes(m)
		}
	}
	switch s.Family {
	case "silverback":
		sum("shards/*/blocks")
	case "victoriametrics":
		sum("data")
		sum("indexdb")
	case "influxdb":
		sum("data")
	case "prometheus":
		// Block directories are ULIDs: 26 characters.
		ms, _ := filepath.Glob(filepath.Join(dir, "data", "*"))
		for _, m := range ms {
			if fi, err := os.Stat(m); err == nil && fi.IsDir() && len(filepath.Base(m)) == 26 {
				n += dirBytes(m)
			}
		}
	}
	return n
}

// topDirBytes breaks dir's allocated bytes down by top-level entry (and
// by entry of each shard for Silverback: "shards/00/blocks").
func topDirBytes(dir string) map[string]int64 {
	out := map[string]int64{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.Name() == "shards" && e.IsDir() {
			shards, _ := os.ReadDir(p)
			for _, sh := range shards {
				parts, _ := os.ReadDir(filepath.Join(p, sh.Name()))
				for _, part := range parts {
					out["shards/"+sh.Name()+"/"+part.Name()] = dirBytes(filepath.Join(p, sh.Name(), part.Name()))
				}
			}
			continue
		}
		if e.IsDir() {
			out[e.Name()] = dirBytes(p)
		} else if fi, err := e.Info(); err == nil {
			out[e.Name()] = diskBytes(fi)
		}
	}
	return out
}
