package perf

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// scenarioCompression: bytes per sample on disk (every file of the data
// directory, as allocated blocks) for the node workload (2 hosts: 1,014
// series, over a week) and for the real capture (--capture) ingested once
// as captured — one host, every scrape once, its timestamps shifted as a
// whole to start 1 s after a 2 h boundary in the past (spacing and jitter
// kept; a capture of under 2 h fills one 2 h block range), no repetition
// — each into a fresh server over one connection (so that no host runs
// ahead of the others into a time range the server has already
// persisted):
//
//   - "persisted": Silverback and VictoriaMetrics after a clean stop
//     (Silverback: blocks, head snapshot, WAL; VictoriaMetrics: every
//     in-memory part flushed); InfluxDB once its cache is snapshotted
//     (cold after 2 s) and the directory is quiet; Prometheus, whose
//     remote write refuses a history older than its head window, gets
//     the same samples offline: the 2 h blocks promtool writes, before
//     any start.
//   - "compacted": Silverback after `tsdb compact --head` (the head
//     persisted as blocks, every due compaction run, WAL truncated);
//     VictoriaMetrics restarted, /internal/force_merge, merges finished,
//     stopped; InfluxDB after its full compaction (cold after 5 s), a quiet
//     directory and a stop; Prometheus started on those blocks, left to
//     compact them on its own schedule until its compaction counter is
//     still, and stopped.
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
	nodeSpan := 7 * 24 * time.Hour
	if e.o.Quick {
		nodeSpan = 6 * time.Hour
	}
	type dataset struct {
		name string
		cfg  loadgen.Config
		// aligned: the data starts 1 s after a multiple of 2 h (so a
		// capture of under 2 h falls into one 2 h block range of every
		// block-based system) rather than at now − span − 1 h.
		aligned bool
	}
	want := func(set string) bool { return e.o.CompressionData == nil || slices.Contains(e.o.CompressionData, set) }
	var sets []dataset
	if want("node") {
		sets = append(sets, dataset{name: fmt.Sprintf("node, %d series × %s", 2*507, fmtSpan(nodeSpan)),
			cfg: loadgen.Config{Workload: loadgen.WorkloadBackfill, Hosts: 2, Seed: 1, BackfillRange: nodeSpan, Concurrency: 1}})
	}
	switch c := e.capture; {
	case !want("capture"):
	case c != nil:
		// The capture once, as captured: one host, every scrape once at
		// its own offset from the first (spacing and jitter kept; an
		// interval of 1 ms makes the host's phase 0), no repetition.
		sets = append(sets, dataset{name: fmt.Sprintf("real capture as captured, %d series × %d scrapes (%s)",
			c.Series(), c.Scrapes(), fmtSpan((time.Duration(c.Span()) * time.Millisecond).Round(time.Minute))),
			cfg: loadgen.Config{Workload: loadgen.WorkloadReplay, Capture: c, Hosts: 1, Interval: time.Millisecond, Seed: 1,
				Unpaced: true, BackfillRange: time.Duration(c.Span()+1) * time.Millisecond, Concurrency: 1},
			aligned: true})
	default:
		for _, s := range e.systems {
			e.skip(sc, "real capture as captured", "bytes per sample, persisted", "B", "lower", s, "no capture file given (--capture)")
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
				// Prometheus's remote write refuses a history older than
				// its head window: the same samples go in offline, as 2 h
				// blocks written by promtool (as in the query scenario).
				tool := ""
				if s.backfillLimit > 0 && ds.cfg.BackfillRange > s.backfillLimit {
					var err error
					if tool, err = promtool(s.Bin); err != nil {
						if run == 0 {
							for _, ph := range phases {
								e.skip(sc, ds.name, "bytes per sample, "+ph, "B", "lower", s, fmt.Sprintf(
									"%s's remote write refuses samples older than its head window (~%s), and %v",
									s.Label, s.backfillLimit, err))
							}
						}
						continue
					}
				}
				p, _ := protocolFor(s, loadgen.ProtocolInflux, loadgen.ProtocolRW1)
				if err := ctx.Err(); err != nil {
					return err
				}
				c := ds.cfg
				c.Protocol = p
				c.Start = e.o.Now().Add(-c.BackfillRange - time.Hour).UnixMilli()
				if ds.aligned {
					const r = int64(2 * time.Hour / time.Millisecond)
					c.Start = (c.Start/r-1)*r + 1000
				}
				dir := e.newDir(s.Name)
				var persisted, compacted int64
				stored := int64(-1) // samples the system reports holding, -1: not known
				if tool != "" {
					n, blocks, err := promtoolBackfill(ctx, tool, dir, c, 2*time.Hour)
					if err != nil {
						return fmt.Errorf("%s %s: promtool backfill: %w", s.Name, ds.name, err)
					}
					persisted = dirBytes(dir, "perf-prometheus.yml")
					e.logf("compression run %d %s %s: %d samples written offline by promtool into %d blocks", run, ds.name, s.Label, n, blocks)
					compacted, err = prometheusCompact(ctx, s, dir)
					if err != nil {
						return fmt.Errorf("%s %s: %w", s.Name, ds.name, err)
					}
					e.compressionCells(sc, ds.name, s, run, dir, c, loadgen.Summary{Samples: n}, "promtool tsdb create-blocks-from openmetrics, 2 h blocks",
						persisted, compacted, stored)
					continue
				}
				proc, err := s.Start(ctx, dir)
				if err != nil {
					return err
				}
				sum, err := e.load(ctx, proc, c)
				if err != nil {
					proc.Kill()
					return fmt.Errorf("%s %s: %w", s.Name, ds.name, err)
				}
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
				e.compressionCells(sc, ds.name, s, run, dir, c, sum, string(p), persisted, compacted, stored)
			}
		}
	}
	return nil
}

// compressionCells records one run's three cells of a data set: the
// directory after the persisted and compacted phases and its long-term
// files. loadedBy is the protocol, or how the samples went in offline.
func (e *env) compressionCells(sc, set string, s *System, run int, dir string, c loadgen.Config, sum loadgen.Summary, loadedBy string,
	persisted, compacted, stored int64) {
	n := float64(sum.Samples)
	longTerm := longTermBytes(s, dir)
	if stored >= 0 && stored != sum.Samples {
		e.logf("compression run %d %s %s: holds %d samples of the %d sent", run, set, s.Label, stored, sum.Samples)
	}
	params := map[string]any{"samples": sum.Samples, "protocol": loadedBy, "hosts": c.Hosts, "span": c.BackfillRange.String(),
		"bytes_persisted": persisted, "bytes_compacted": compacted, "bytes_long_term": longTerm, "by_top_dir": topDirBytes(dir)}
	if stored >= 0 {
		params["samples_stored"] = stored
	}
	e.cell(sc, set, "bytes per sample, persisted", "B", "lower", s, run, float64(persisted)/n, params)
	e.cell(sc, set, "bytes per sample, compacted", "B", "lower", s, run, float64(compacted)/n, params)
	e.cell(sc, set, "bytes per sample, compacted, long-term files only", "B", "lower", s, run, float64(longTerm)/n, params)
	e.logf("compression run %d %s %s: %d samples, %.3f B/sample persisted, %.3f compacted, %.3f long-term files only",
		run, set, s.Label, sum.Samples, float64(persisted)/n, float64(compacted)/n, float64(longTerm)/n)
}

// prometheusCompact starts Prometheus on the blocks promtool wrote and
// lets it compact them on its own schedule (its compaction loop runs
// every minute and merges 2 h blocks into the 6 h and 18 h ranges of its
// default 15 d retention); once its compaction counter has been still for
// a while, it stops it and returns the directory's bytes.
func prometheusCompact(ctx context.Context, s *System, dir string) (int64, error) {
	proc, err := s.Start(ctx, dir)
	if err != nil {
		return 0, err
	}
	// The first compaction pass starts a minute after start.
	select {
	case <-time.After(70 * time.Second):
	case <-ctx.Done():
		proc.Kill()
		return 0, ctx.Err()
	}
	last, still := -1.0, 0
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline) && still < 3; {
		v, ok := proc.Metric("prometheus_tsdb_compactions_total")
		if ok && v == last {
			still++
		} else {
			still = 0
		}
		last = v
		time.Sleep(5 * time.Second)
	}
	if err := proc.Stop(); err != nil {
		return 0, err
	}
	return dirBytes(dir, "perf-prometheus.yml"), nil
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
