package pipeline

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/loadgen"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// realCapturePaths are the real node_exporter captures, reached from the
// package directory, best first: the repository's 2 h capture (480 scrapes
// of 507 series, perf/testdata/README.md), else the shared 10-minute one
// (40 scrapes).
var realCapturePaths = []string{"../perf/testdata/node_exporter_2h.prom.zst", "../../../shared/data/node_exporter_10min.prom"}

// allocatedBytes sums the blocks allocated on disk by every file under dir
// (sparse head chunk files and WAL segments count what they hold).
func allocatedBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkRealBlockBytes measures bytes per sample of the real
// node_exporter capture (507 series; the first of realCapturePaths
// present) filling one 2 h block range — the 2 h capture once, a shorter
// one repeated as the replay workload repeats it (counters keep rising) —
// ingested into
// a database and persisted by a head cut: the block as the cut writes it
// (real-level1), the same block compacted by hand with the shipped
// long-term options (real-compacted: what a 12 h compaction would make of
// it; real-compacted-rc: the same with --storage.compaction.range-coded), and the whole data directory after the cut (real-datadir: blocks,
// WAL, head chunk files, allocated bytes). Every file of a block counts.
// Run with -benchtime=1x.
func BenchmarkRealBlockBytes(b *testing.B) {
	path := ""
	for _, p := range realCapturePaths {
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		b.Skipf("no real capture present (%v)", realCapturePaths)
	}
	c, err := loadgen.ReadCaptureFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("capture %s: %d series × %d scrapes", path, c.Series(), c.Scrapes())
	const r = int64(2 * time.Hour / time.Millisecond)
	t0, _, _ := c.At(0, 0)
	// The capture's clock shifted to the start of a past block range.
	shift := (t0/r-1)*r - t0 + 1000
	for b.Loop() {
		dir := b.TempDir()
		ctx := context.Background()
		o := Options{Shards: 1, Logger: zap.NewNop(), WAL: walseg.Options{Sync: walseg.SyncNone},
			CompactionRanges: []time.Duration{2 * time.Hour}, HeadGCInterval: -1}
		db, err := Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		var batch stages.Batch
		samples, scrapes := 0, 0
		lsets := make([]labels.Labels, c.Series())
		for i := range lsets {
			lsets[i] = c.SeriesLabels(i)
		}
		for n := 0; ; n++ {
			if t, _, _ := c.At(n, 0); t+shift >= (t0+shift)/r*r+r {
				break
			}
			batch.Reset()
			for i := range c.Series() {
				t, v, ok := c.At(n, i)
				if ok {
					batch.AddSample(batch.AddSeries(lsets[i], nil), t+shift, v)
					samples++
				}
			}
			if _, err := db.Append(ctx, &batch); err != nil {
				b.Fatal(err)
			}
			scrapes++
		}
		if err := db.Compact(ctx, true); err != nil {
			b.Fatal(err)
		}
		l1 := blockBytes(b, dir)
		all := allocatedBytes(b, dir)
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		roots, err := filepath.Glob(filepath.Join(dir, "shards", "*", "blocks"))
		if err != nil || len(roots) != 1 {
			b.Fatal(err, roots)
		}
		bs, failed, err := block.OpenAll(roots[0], block.OpenOptions{})
		if err != nil || len(failed) > 0 || len(bs) != 1 {
			b.Fatal(err, failed, len(bs))
		}
		if got := bs[0].Meta().Stats.NumSamples; got != uint64(samples) {
			b.Fatalf("the cut block holds %d samples, want %d", got, samples)
		}
		// The shipped compaction's options (shard.longTermOptions), without
		// and with range-coded values (--storage.compaction.range-coded).
		compact := func(rangeCoded bool) (string, int64) {
			alt := b.TempDir()
			re := chunkstore.NewReencoder(chunkstore.ReencodeOptions{})
			meta, err := block.Compact(alt, bs, block.CompactOptions{SharedTimestamps: true, RangeCoded: rangeCoded,
				Writer: block.WriterOptions{CompressIndex: true},
				Rechunk: func(dst []chunkstore.Chunk, _ labels.Labels, src []chunkstore.Chunk) ([]chunkstore.Chunk, error) {
					return re.Reencode(dst, src)
				}})
			if err != nil {
				b.Fatal(err)
			}
			if meta.Stats.NumSamples != uint64(samples) {
				b.Fatalf("the compacted block holds %d samples, want %d", meta.Stats.NumSamples, samples)
			}
			d := filepath.Join(alt, meta.ULID.String())
			return d, allocatedBytesApparent(b, d)
		}
		rcDir, l2rc := compact(true)
		rcb, err := block.Open(rcDir, block.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		checkRealBlock(b, rcb, c, scrapes, shift)
		if err := rcb.Close(); err != nil {
			b.Fatal(err)
		}
		cdir, l2 := compact(false)
		cb, err := block.Open(cdir, block.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		// Both blocks read back bit-exact.
		checkRealBlock(b, bs[0], c, scrapes, shift)
		checkRealBlock(b, cb, c, scrapes, shift)
		if testing.Verbose() {
			b.Logf("level 1:\n%s", blockBreakdown(b, bs[0]))
			b.Logf("compacted:\n%s", blockBreakdown(b, cb))
			if d := os.Getenv("REALBLOCK_KEEP"); d != "" {
				_ = os.CopyFS(filepath.Join(d, "l1"), os.DirFS(bs[0].Dir()))
				_ = os.CopyFS(filepath.Join(d, "l2"), os.DirFS(cb.Dir()))
			}
		}
		if err := cb.Close(); err != nil {
			b.Fatal(err)
		}
		for _, bl := range bs {
			if err := bl.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(c.Series()), "series")
		b.ReportMetric(float64(scrapes), "scrapes")
		b.ReportMetric(float64(l1)/float64(samples), "real-level1-B/sample")
		b.ReportMetric(float64(l2)/float64(samples), "real-compacted-B/sample")
		b.ReportMetric(float64(l2rc)/float64(samples), "real-compacted-rc-B/sample")
		b.ReportMetric(float64(all)/float64(samples), "real-datadir-B/sample")
	}
}

// allocatedBytesApparent sums the sizes of the files under dir.
func allocatedBytesApparent(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
