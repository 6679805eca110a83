package pipeline

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/walseg"
)

// blockBytes sums the sizes of every file of every block of the database
// in dir.
func blockBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	roots, err := filepath.Glob(filepath.Join(dir, "shards", "*", "blocks"))
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, root := range roots {
		err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return n
}

// BenchmarkBlockBytes measures bytes per sample on disk of blocks cut from
// the head (level 1, 2 h) and after compaction into 12 h blocks, for a day
// of the node_exporter-like workload (10 hosts, 5,070 series, 15 s scrapes
// with real jitter). Index, chunks, meta and tombstones all count. It also
// reports compaction throughput. Run with -benchtime=1x.
func BenchmarkBlockBytes(b *testing.B) {
	for b.Loop() {
		dir := b.TempDir()
		ctx := context.Background()
		o := Options{Shards: 2, Logger: zap.NewNop(), WAL: walseg.Options{Sync: walseg.SyncNone},
			CompactionRanges: []time.Duration{2 * time.Hour}, HeadGCInterval: -1}
		db, err := Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		const hosts, scrapes = 10, 24 * 240 // one day at 15 s
		ingestScrapes(b, db, hosts, scrapes)
		if err := db.Compact(ctx, true); err != nil {
			b.Fatal(err)
		}
		samples := float64(hosts * 507 * scrapes)
		l1 := blockBytes(b, dir)
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		// Reopen with leveled ranges and compact.
		o.CompactionRanges = nil
		db, err = Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := db.Compact(ctx, false); err != nil {
			b.Fatal(err)
		}
		dur := time.Since(start)
		l2 := blockBytes(b, dir)
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(l1)/samples, "level1-B/sample")
		b.ReportMetric(float64(l2)/samples, "compacted-B/sample")
		b.ReportMetric(float64(l1)/1e6/dur.Seconds(), "compaction-MB/s")
		b.ReportMetric(samples/dur.Seconds(), "compaction-samples/s")
	}
}

// BenchmarkOpenBlocks measures Open of a database holding about 100 blocks
// (the "startup time with 100 blocks"): 2 shards × 51 blocks of 10
// minutes of 2 hosts each, with an empty WAL.
func BenchmarkOpenBlocks(b *testing.B) {
	dir := b.TempDir()
	o := Options{Shards: 2, Logger: zap.NewNop(), WAL: walseg.Options{Sync: walseg.SyncNone},
		BlockRange: 10 * time.Minute, CompactionRanges: []time.Duration{10 * time.Minute}, HeadGCInterval: -1}
	db, err := Open(dir, o)
	if err != nil {
		b.Fatal(err)
	}
	ingestScrapes(b, db, 2, 51*40) // 51 ranges of 10 min at 15 s
	if err := db.Compact(context.Background(), true); err != nil {
		b.Fatal(err)
	}
	n := numBlocks(db)
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		db, err := Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "blocks")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
}
