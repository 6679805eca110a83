package pipeline

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
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
// reports compaction throughput, and the alternatives of blockAlternatives
// (every row of PERFORMANCE.md's block table). Run with -benchtime=1x.
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
		// The design alternatives, from the same level-1 blocks: XOR-only
		// level 1, and its 12 h compactions by copy, by long re-encoded
		// chunks, and with shared timestamps.
		alt := blockAlternatives(b, dir)
		for _, a := range alt {
			b.ReportMetric(float64(a.bytes)/samples, a.name+"-B/sample")
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
		nb := numBlocks(db)
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(nb), "compacted-blocks")
		// The database compacts only complete 12 h windows: a level-1
		// block alone in the newest window stays as it is. Its share, and
		// the compacted blocks alone:
		cBytes, cSamples, l1Samples := compactedOnly(b, dir)
		b.ReportMetric(float64(cBytes)/float64(cSamples), "compacted-only-B/sample")
		b.ReportMetric(float64(l1Samples)/samples, "uncompacted-share")
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

// blockAlternative is the on-disk size of one design alternative.
type blockAlternative struct {
	name  string
	bytes int64
}

// blockAlternatives rebuilds the level-1 blocks of the database in dir
// (closed) in other designs, beside it, and returns their sizes:
//   - l1xor: each level-1 block with every chunk re-encoded as XOR chunks
//     of at most 120 samples (what level 1 was before closed head chunks
//     were re-encoded as EncDecimal when smaller);
//   - the 12 h compactions of l1xor: copy (chunks copied), long (series
//     re-encoded into long chunks, XOR or EncDecimal per chunk), shared (as
//     long, with timestamps shared per scrape target: what ships, from XOR
//     input).
func blockAlternatives(tb testing.TB, dir string) []blockAlternative {
	tb.Helper()
	roots, err := filepath.Glob(filepath.Join(dir, "shards", "*", "blocks"))
	if err != nil {
		tb.Fatal(err)
	}
	altDir := tb.TempDir()
	sizes := map[string]int64{}
	const window = 12 * 3600 * 1000
	for si, root := range roots {
		level1, failed, err := block.OpenAll(root, block.OpenOptions{})
		if err != nil || len(failed) > 0 {
			tb.Fatal(err, failed)
		}
		var want uint64 // samples of the level-1 blocks: every alternative must hold them all
		for _, bl := range level1 {
			want += bl.Meta().Stats.NumSamples
		}
		xorParent := filepath.Join(altDir, "l1xor", fmt.Sprint(si))
		if err := os.MkdirAll(xorParent, 0o755); err != nil {
			tb.Fatal(err)
		}
		for _, bl := range level1 {
			if _, err := block.Compact(xorParent, []*block.Block{bl}, block.CompactOptions{Level: 1, Rechunk: xorRechunk}); err != nil {
				tb.Fatal(err)
			}
		}
		// The shipped options by hand over the shipped level 1, to tell
		// the input's encoding from the database's compaction planning.
		{
			parent := filepath.Join(altDir, "compacted-shared-l1", fmt.Sprint(si))
			if err := os.MkdirAll(parent, 0o755); err != nil {
				tb.Fatal(err)
			}
			groups := map[int64][]*block.Block{}
			for _, bl := range level1 {
				k := bl.Meta().MinTime / window
				groups[k] = append(groups[k], bl)
			}
			var got uint64
			for _, g := range groups {
				re := chunkstore.NewReencoder(chunkstore.ReencodeOptions{})
				meta, err := block.Compact(parent, g, block.CompactOptions{SharedTimestamps: true,
					Rechunk: func(dst []chunkstore.Chunk, _ labels.Labels, src []chunkstore.Chunk) ([]chunkstore.Chunk, error) {
						return re.Reencode(dst, src)
					}})
				if err != nil {
					tb.Fatal(err)
				}
				got += meta.Stats.NumSamples
			}
			if got != want {
				tb.Fatalf("shard %d, compacted-shared-l1: %d samples, level 1 has %d", si, got, want)
			}
		}
		closeBlocks(tb, level1)
		xor, failed, err := block.OpenAll(xorParent, block.OpenOptions{})
		if err != nil || len(failed) > 0 {
			tb.Fatal(err, failed)
		}
		var gotXOR uint64
		for _, bl := range xor {
			gotXOR += bl.Meta().Stats.NumSamples
		}
		if gotXOR != want {
			tb.Fatalf("shard %d, l1xor: %d samples, level 1 has %d", si, gotXOR, want)
		}
		groups := map[int64][]*block.Block{}
		for _, bl := range xor {
			k := bl.Meta().MinTime / window
			groups[k] = append(groups[k], bl)
		}
		for _, mode := range []string{"copy", "long", "shared"} {
			parent := filepath.Join(altDir, "compacted-"+mode, fmt.Sprint(si))
			if err := os.MkdirAll(parent, 0o755); err != nil {
				tb.Fatal(err)
			}
			var got uint64
			for _, g := range groups {
				o := block.CompactOptions{}
				if mode != "copy" {
					re := chunkstore.NewReencoder(chunkstore.ReencodeOptions{})
					o.Rechunk = func(dst []chunkstore.Chunk, _ labels.Labels, src []chunkstore.Chunk) ([]chunkstore.Chunk, error) {
						return re.Reencode(dst, src)
					}
					o.SharedTimestamps = mode == "shared"
				}
				meta, err := block.Compact(parent, g, o)
				if err != nil {
					tb.Fatal(err)
				}
				got += meta.Stats.NumSamples
			}
			if got != want {
				tb.Fatalf("shard %d, compacted-%s: %d samples, level 1 has %d", si, mode, got, want)
			}
		}
		closeBlocks(tb, xor)
	}
	var out []blockAlternative
	for _, name := range []string{"l1xor", "compacted-copy", "compacted-long", "compacted-shared"} {
		sizes[name] = dirBytes(tb, filepath.Join(altDir, name))
		out = append(out, blockAlternative{name: name + "-from-xor", bytes: sizes[name]})
	}
	out[0].name = "level1-xor"
	out = append(out, blockAlternative{name: "compacted-shared-by-hand", bytes: dirBytes(tb, filepath.Join(altDir, "compacted-shared-l1"))})
	return out
}

// xorRechunk re-encodes a series' chunks as XOR chunks of at most
// chunkstore.DefaultSamplesPerChunk samples, cut where the input cut.
func xorRechunk(dst []chunkstore.Chunk, _ labels.Labels, src []chunkstore.Chunk) ([]chunkstore.Chunk, error) {
	var it chunkstore.Iterator
	for _, c := range src {
		var app chunkstore.Appender
		app.Reset(nil)
		it.Reset(c)
		for it.Next() {
			if app.NumSamples() >= chunkstore.DefaultSamplesPerChunk {
				dst = append(dst, app.Chunk())
				app = chunkstore.Appender{}
				app.Reset(nil)
			}
			t, v := it.At()
			app.Append(t, v)
		}
		if err := it.Err(); err != nil {
			return dst, err
		}
		if app.NumSamples() > 0 {
			dst = append(dst, app.Chunk())
		}
	}
	return dst, nil
}

func closeBlocks(tb testing.TB, bs []*block.Block) {
	for _, bl := range bs {
		if err := bl.Close(); err != nil {
			tb.Fatal(err)
		}
	}
}

// dirBytes sums the sizes of the files under dir.
func dirBytes(tb testing.TB, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
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
	return n
}

// compactedOnly returns the bytes and samples of the blocks above level 1
// of the (closed) database in dir, and the samples left at level 1.
func compactedOnly(tb testing.TB, dir string) (bytes int64, samples, level1Samples uint64) {
	tb.Helper()
	roots, err := filepath.Glob(filepath.Join(dir, "shards", "*", "blocks"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, root := range roots {
		bs, failed, err := block.OpenAll(root, block.OpenOptions{})
		if err != nil || len(failed) > 0 {
			tb.Fatal(err, failed)
		}
		for _, bl := range bs {
			m := bl.Meta()
			if m.Compaction.Level > 1 {
				bytes += dirBytes(tb, bl.Dir())
				samples += m.Stats.NumSamples
			} else {
				level1Samples += m.Stats.NumSamples
			}
		}
		closeBlocks(tb, bs)
	}
	return bytes, samples, level1Samples
}
