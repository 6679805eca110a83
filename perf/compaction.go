package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
	"github.com/silverback-tsdb/tsdb/loadgen/inprocess"
	"github.com/silverback-tsdb/tsdb/pipeline"
)

// scenarioCompaction: Silverback in-process (package pipeline, 2 shards;
// one loadgen worker, so that no host runs ahead into a cut head window):
// hosts × span of the node workload are appended with compaction off
// (only 2 h blocks cut from the head), the head is persisted, and the
// database is reopened with the default leveled ranges; the time of
// DB.Compact (every due compaction: 2 h blocks into 12 h, re-encoded)
// gives MB/s of level-1 input (the blocks that are gone) and samples/s. Peers compact on their own
// schedule with nothing comparable to call, so they are not measured.
func scenarioCompaction(ctx context.Context, e *env) error {
	const sc = "compaction"
	// Two more hours than the 12 h windows: a window is complete (due)
	// only once a block lies past it.
	// Quick mode scales the block range down (10 min blocks into 1 h) so
	// that it compacts in a second even under the race detector.
	hosts, blockRange, span := 10, 2*time.Hour, 38*time.Hour
	if e.o.Quick {
		hosts, blockRange, span = 1, 10*time.Minute, 80*time.Minute
	}
	cs := fmt.Sprintf("node, %d series × %s, %s blocks into %s", hosts*507, fmtSpan(span), fmtSpan(blockRange), fmtSpan(6*blockRange))
	for _, s := range e.systems[1:] {
		for _, m := range []string{"input MB/s", "samples/s"} {
			e.skip(sc, cs, m, "", "higher", s, "compacts in the background on its own schedule; no comparable command")
		}
	}
	for run := range e.o.Runs {
		if err := ctx.Err(); err != nil {
			return err
		}
		dir := e.newDir("silverback-inprocess")
		t, err := inprocess.Open(dir, pipeline.Options{Shards: 2, BlockRange: blockRange, CompactionRanges: []time.Duration{blockRange}})
		if err != nil {
			return err
		}
		start := e.o.Now().Add(-span - 24*time.Hour).Truncate(24 * time.Hour).UnixMilli()
		sum, err := loadPersistClose(ctx, t, loadgen.Config{Workload: loadgen.WorkloadBackfill, Protocol: loadgen.ProtocolInProcess,
			Target: t, Hosts: hosts, Seed: 1, Start: start, BackfillRange: span, Concurrency: 1})
		if err != nil {
			return err
		}
		before, err := blocks(dir)
		if err != nil {
			return err
		}
		db, err := pipeline.Open(dir, pipeline.Options{BlockRange: blockRange})
		if err != nil {
			return err
		}
		t0 := time.Now()
		err = db.Compact(ctx, false)
		d := time.Since(t0)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		after, err := blocks(dir)
		if err != nil {
			return err
		}
		// The inputs are the blocks that are gone, the outputs the new ones.
		var in, out blockStat
		var nIn, nOut int
		for p, b := range before {
			if _, ok := after[p]; !ok {
				in.bytes, in.samples, nIn = in.bytes+b.bytes, in.samples+b.samples, nIn+1
			}
		}
		for p, b := range after {
			if _, ok := before[p]; !ok {
				out.bytes, out.samples, nOut = out.bytes+b.bytes, out.samples+b.samples, nOut+1
			}
		}
		if nIn == 0 || in.samples != out.samples {
			return fmt.Errorf("compaction: %d blocks (%d samples) in, %d blocks (%d samples) out", nIn, in.samples, nOut, out.samples)
		}
		params := map[string]any{"samples_appended": sum.Samples, "samples_compacted": in.samples, "input_bytes": in.bytes,
			"output_bytes": out.bytes, "blocks_in": nIn, "blocks_out": nOut, "seconds": d.Seconds()}
		mbs, sps := float64(in.bytes)/mb/d.Seconds(), float64(in.samples)/d.Seconds()
		e.cell(sc, cs, "input MB/s", "MB/s", "higher", e.ours, run, mbs, params)
		e.cell(sc, cs, "samples/s", "samples/s", "higher", e.ours, run, sps, params)
		e.logf("compaction run %d: %d blocks (%.1f MB, %d samples) → %d blocks (%.1f MB) in %s: %.1f MB/s, %s samples/s", run,
			nIn, float64(in.bytes)/mb, in.samples, nOut, float64(out.bytes)/mb, d.Round(time.Millisecond), mbs, fmtNum(sps))
	}
	return nil
}

// blockStat is one block directory's size and samples.
type blockStat struct {
	bytes   int64
	samples uint64
}

// blocks returns every block (a directory under a blocks/ directory holding
// a meta.json) of a database directory by path.
func blocks(dir string) (map[string]blockStat, error) {
	out := map[string]blockStat{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.Contains(filepath.ToSlash(path), "/blocks/") {
			return nil
		}
		// The block is the directory right under blocks/ (its files
		// include chunks/NNNNNN).
		slash := filepath.ToSlash(path)
		i := strings.LastIndex(slash, "/blocks/") + len("/blocks/")
		j := strings.IndexByte(slash[i:], '/')
		if j < 0 {
			return nil // a file directly in blocks/
		}
		bdir := filepath.FromSlash(slash[:i+j])
		st := out[bdir]
		if fi, err := d.Info(); err == nil {
			st.bytes += fi.Size()
		}
		if d.Name() == "meta.json" {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var m struct {
				Stats struct {
					NumSamples uint64 `json:"numSamples"`
				} `json:"stats"`
			}
			if err := json.Unmarshal(b, &m); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			st.samples = m.Stats.NumSamples
		}
		out[bdir] = st
		return nil
	})
	return out, err
}

// loadPersistClose runs the load generator c into the in-process target t,
// fails if any sample was refused, persists the whole head (a forced
// compaction) and closes t in every case.
func loadPersistClose(ctx context.Context, t *inprocess.Target, c loadgen.Config) (loadgen.Summary, error) {
	sum, err := loadgen.Run(ctx, c)
	if err == nil && sum.SamplesFailed > 0 {
		err = fmt.Errorf("%d samples refused: %s", sum.SamplesFailed, sum.FirstError)
	}
	if err == nil {
		err = t.DB().Compact(ctx, true)
	}
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	return sum, err
}
