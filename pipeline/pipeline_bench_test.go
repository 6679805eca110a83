package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/loadgen"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// scrapeBatches pre-generates scrapes of a node_exporter-like workload as
// batches (one batch per host per scrape, as a scrape would arrive).
func scrapeBatches(tb testing.TB, hosts, scrapes int) (batches []*stages.Batch, perScrape int) {
	tb.Helper()
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: hosts, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	lsets := make([]labels.Labels, g.NumSeries())
	for i := range lsets {
		lsets[i] = g.Labels(i).WithoutEmpty()
	}
	per := g.SeriesPerHost()
	var buf []loadgen.Sample
	for range scrapes {
		buf = g.Next(buf[:0])
		for h := range hosts {
			b := &stages.Batch{}
			for _, s := range buf[h*per : (h+1)*per] {
				b.AddSample(b.AddSeries(lsets[s.Series], nil), s.T, s.V)
			}
			batches = append(batches, b)
		}
	}
	return batches, g.NumSeries()
}

// shiftBatch moves every timestamp of b by d (to reuse pre-generated
// scrapes as later ones).
func shiftBatch(b *stages.Batch, d int64) {
	for i := range b.Samples {
		b.Samples[i].T += d
	}
}

// BenchmarkAppend measures steady-state in-process Append throughput with
// the WAL in batch sync mode: one op is one host's scrape (507 samples);
// appenders goroutines append concurrently, as HTTP connections would, each
// owning a disjoint set of hosts. The warm-up appends every pre-generated
// scrape once, so that series exist and each has cut its first chunk (after
// which its chunk buffer is reused and appends allocate nothing per sample).
func BenchmarkAppend(b *testing.B) {
	const hosts, scrapes = 20, 130
	batches, _ := scrapeBatches(b, hosts, scrapes)
	span := int64(scrapes) * 16_000 // ms covered by the pre-generated scrapes, rounded up
	for _, shards := range []int{1, 2, 4} {
		for _, appenders := range []int{1, 4} {
			b.Run(fmt.Sprintf("shards=%d/appenders=%d", shards, appenders), func(b *testing.B) {
				db, err := Open(b.TempDir(), Options{Shards: shards, Logger: zap.NewNop(), WAL: walseg.Options{Sync: walseg.SyncBatch}})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				own := make([][]*stages.Batch, appenders)
				for i, bt := range batches {
					c := &stages.Batch{Series: bt.Series, Samples: append([]stages.Sample(nil), bt.Samples...)}
					if _, err := db.Append(ctx, c); err != nil {
						b.Fatal(err)
					}
					shiftBatch(c, span)
					a := i % hosts % appenders
					own[a] = append(own[a], c)
				}
				var wg sync.WaitGroup
				perApp := b.N/appenders + 1
				b.ReportAllocs()
				b.ResetTimer()
				for a := range appenders {
					wg.Go(func() {
						mine := own[a]
						for k := range perApp {
							if k > 0 && k%len(mine) == 0 {
								for _, o := range mine {
									shiftBatch(o, span)
								}
							}
							if _, err := db.Append(ctx, mine[k%len(mine)]); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				samples := perApp * appenders * len(batches[0].Samples)
				b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
				b.ReportMetric(float64(len(batches[0].Samples)), "samples/op")
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkReplay measures Open of a database whose WAL holds about 10M
// samples (one op = one Open of every shard, in parallel):
// restart=crash removes the head snapshots first, so every sample is
// replayed from the WAL; restart=clean opens from the head snapshots a clean
// Close writes (docs/format/head_snapshot.md).
func BenchmarkReplay(b *testing.B) {
	for _, restart := range []string{"crash", "clean"} {
		for _, shards := range []int{1, 2} {
			b.Run(fmt.Sprintf("restart=%s/shards=%d/samples=10M", restart, shards), func(b *testing.B) {
				const hosts, scrapes = 100, 200 // 100 × 507 × 200 ≈ 10.1M samples
				dir := b.TempDir()
				db, err := Open(dir, Options{Shards: shards, Logger: zap.NewNop(), WAL: walseg.Options{Sync: walseg.SyncNone}})
				if err != nil {
					b.Fatal(err)
				}
				total := 0
				batches, _ := scrapeBatches(b, hosts, scrapes)
				for _, bt := range batches {
					st, err := db.Append(context.Background(), bt)
					if err != nil {
						b.Fatal(err)
					}
					total += st.Appended
				}
				batches = nil
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				b.ResetTimer()
				for b.Loop() {
					if restart == "crash" {
						b.StopTimer()
						snaps, _ := filepath.Glob(filepath.Join(dir, "shards", "*", "head.snapshot"))
						for _, p := range snaps {
							if err := os.Remove(p); err != nil {
								b.Fatal(err)
							}
						}
						b.StartTimer()
					}
					db, err := Open(dir, Options{Logger: zap.NewNop()})
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := db.Close(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
				b.ReportMetric(float64(total), "samples/op")
			})
		}
	}
}

// BenchmarkHeadMemory measures heap bytes per active series with about 1M
// node_exporter-like series after a few scrapes: Go heap in use after GC,
// with the benchmark's own references to labels and batches dropped,
// divided by the series count. Run with -benchtime=1x.
func BenchmarkHeadMemory(b *testing.B) {
	for _, scrapes := range []int{1, 10} {
		for _, cache := range []int{-1, 0} {
			name := "route_cache=on"
			if cache < 0 {
				name = "route_cache=off"
			}
			b.Run(fmt.Sprintf("series=1M/scrapes=%d/%s", scrapes, name), func(b *testing.B) {
				for b.Loop() {
					const hosts = 1973 // × 507 ≈ 1.0M series
					var before runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&before)
					// HeadMaxBytes off: an early head cut in the middle would
					// measure a block write's scratch, not the head.
					db, err := Open(b.TempDir(), Options{Shards: 2, Logger: zap.NewNop(), RouteCacheSize: cache,
						WAL: walseg.Options{Sync: walseg.SyncNone}, HeadMaxBytes: -1})
					if err != nil {
						b.Fatal(err)
					}
					series := ingestScrapes(b, db, hosts, scrapes)
					var after runtime.MemStats
					runtime.GC()
					runtime.GC()
					runtime.ReadMemStats(&after)
					b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(series), "heapB/series")
					if err := db.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// ingestScrapes appends scrapes of hosts hosts, building each host's batch
// on the fly so that the benchmark holds no labels afterwards, and returns
// the series count.
func ingestScrapes(tb testing.TB, db *DB, hosts, scrapes int) int {
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: hosts, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	per := g.SeriesPerHost()
	var buf []loadgen.Sample
	var b stages.Batch
	for range scrapes {
		buf = g.Next(buf[:0])
		for h := range hosts {
			b.Reset()
			for _, s := range buf[h*per : (h+1)*per] {
				b.AddSample(b.AddSeries(g.Labels(s.Series).WithoutEmpty(), nil), s.T, s.V)
			}
			if _, err := db.Append(context.Background(), &b); err != nil {
				tb.Fatal(err)
			}
		}
	}
	b.Reset()
	return g.NumSeries()
}
