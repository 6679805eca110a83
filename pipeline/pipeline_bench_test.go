package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/loadgen"
	"github.com/silverback-tsdb/tsdb/shard"
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
// samples/s counts the samples each Append's stats report as stored (and
// the benchmark fails if any sample was not stored);
// appenders goroutines append concurrently, as HTTP connections would, each
// owning a disjoint set of hosts. The warm-up appends every pre-generated
// scrape once, so that series exist and each has cut its first chunk (after
// which its chunk buffer is reused and appends allocate nothing per sample).
// cpu-s/Msamples is the process's CPU time (user+system, every goroutine)
// over the timed loop per million stored samples.
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
				stored := make([]int, appenders) // per appender: samples the stats say were stored
				b.ReportAllocs()
				runtime.GC() // the warm-up's garbage is not the loop's
				b.ResetTimer()
				cpu0, cpuOK := processCPUTime()
				for a := range appenders {
					wg.Go(func() {
						mine := own[a]
						for k := range perApp {
							if k > 0 && k%len(mine) == 0 {
								for _, o := range mine {
									shiftBatch(o, span)
								}
							}
							bt := mine[k%len(mine)]
							st, err := db.Append(ctx, bt)
							if err != nil {
								b.Error(err)
								return
							}
							// Every sample is new: anything else is a broken
							// benchmark, not a throughput figure.
							if st.Appended != len(bt.Samples) {
								b.Errorf("append stored %d of %d samples: %+v", st.Appended, len(bt.Samples), st)
								return
							}
							stored[a] += st.Appended
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				cpu1, _ := processCPUTime()
				samples := 0
				for _, n := range stored {
					samples += n
				}
				b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
				if cpuOK && samples > 0 {
					// Every goroutine of the process (shards, WAL writer,
					// GC): what ingest costs a core, unlike wall time on a
					// loaded machine.
					b.ReportMetric((cpu1-cpu0).Seconds()/float64(samples)*1e6, "cpu-s/Msamples")
				}
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
// Close writes (docs/format/head_snapshot.md). cache=warm opens with the
// data directory in the page cache (a restart right after a stop);
// cache=cold evicts every file of it first (fsync, then
// posix_fadvise(DONTNEED) per file: a restart after a reboot or under
// memory pressure; no root needed, and only this directory's pages go).
func BenchmarkReplay(b *testing.B) {
	for _, restart := range []string{"crash", "crash-maxtail", "crash-full", "clean"} {
		for _, shards := range []int{1, 2} {
			for _, cache := range []string{"warm", "cold"} {
				b.Run(fmt.Sprintf("restart=%s/shards=%d/cache=%s/samples=10M", restart, shards, cache), func(b *testing.B) {
					benchReplay(b, restart, shards, cache == "cold")
				})
			}
		}
	}
}

// benchReplay: restart=crash opens a copy of the data directory taken
// while the database ran (what a SIGKILL leaves: the newest periodic head
// snapshot and the WAL after it); crash-full the same with periodic
// snapshots off (the whole WAL replayed, the crash restart before them);
// clean opens after Close (the shutdown's snapshot). crash-maxtail is crash
// with 191 scrapes: the last periodic snapshot (every 8 samples per series
// by default, so after scrape 184) leaves a tail of 7 scrapes, about the
// longest a crash replays (192 is a multiple of 8, 16, 32 and 64: at those
// intervals too the tail is one scrape short of an interval). replayed/op is the WAL samples the open applied.
func benchReplay(b *testing.B, restart string, shards int, cold bool) {
	hosts, scrapes := 100, 200 // 100 × 507 × 200 ≈ 10.1M samples
	if restart == "crash-maxtail" {
		scrapes = 191
	}
	dir := b.TempDir()
	o := Options{Shards: shards, Logger: zap.NewNop(), WAL: walseg.Options{Sync: walseg.SyncNone}}
	if restart == "crash-full" {
		o.HeadSnapshotSamplesPerSeries = -1
	}
	db, err := Open(dir, o)
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
		if st.Appended != len(bt.Samples) {
			b.Fatalf("stored %d of %d samples: %+v", st.Appended, len(bt.Samples), st)
		}
		total += st.Appended
	}
	batches = nil
	crashed := ""
	if restart != "clean" {
		// Settle the background job in flight (a snapshot), then copy
		// the directory as a kill would leave it: Append returned, so its
		// records are written.
		if err := db.Compact(context.Background(), false); err != nil {
			b.Fatal(err)
		}
		crashed = filepath.Join(b.TempDir(), "crashed")
		if out, err := exec.Command("cp", "-a", dir, crashed).CombinedOutput(); err != nil {
			b.Fatalf("copy: %v: %s", err, out)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var cpu time.Duration // process CPU time of the opens: the machine is shared
	cpuOK := true
	var replayed uint64
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if crashed != "" {
			if err := os.RemoveAll(dir); err != nil {
				b.Fatal(err)
			}
			if out, err := exec.Command("cp", "-a", crashed, dir).CombinedOutput(); err != nil {
				b.Fatalf("copy: %v: %s", err, out)
			}
		}
		if cold {
			evictPageCache(b, dir)
		}
		runtime.GC()
		b.StartTimer()
		c0, ok0 := processCPUTime()
		db, err := Open(dir, Options{Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		c1, ok1 := processCPUTime()
		cpuOK = cpuOK && ok0 && ok1
		cpu += c1 - c0
		b.StopTimer()
		for _, s := range db.shards {
			replayed += s.Metrics().ReplayedSamples.Load()
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
	b.ReportMetric(float64(total), "samples/op")
	b.ReportMetric(float64(replayed)/float64(b.N), "replayed/op")
	if cpuOK {
		b.ReportMetric(cpu.Seconds()*1000/float64(b.N)/(float64(total)/1e6), "cpu-ms/1M-samples")
	}
}

// BenchmarkHeadMemory measures memory per active series with about 1M
// node_exporter-like series after 1, 60, 119 and 121 scrapes: with chunks
// closed only at 120 samples that is 1, 60 and 119 samples in each open
// chunk and, at 121, one sample after the first cut, when each series'
// buffer has kept the capacity it grew to (the steady state); with the byte
// bound (shard.Options.OpenChunkBytes) chunks close earlier and the four
// points sample the cycle of a head that has cut chunks. It reports Go
// heap in use after GC (heapB/series, HeapAlloc delta) and the process's
// resident set (rssB/series, VmRSS delta after debug.FreeOSMemory, so it
// counts the heap's partly used spans and the runtime's overhead but not
// freed memory), with the benchmark's own references to labels and batches
// dropped, divided by the series count. It also reports the head memory
// estimate that HeadMaxBytes bounds (estB/series) and its open-chunk part
// (openB/series), to compare with the measured heap, and the head's
// memory outside the Go heap (mappedB/series: series slabs, open chunk
// buffers, hash table; in the RSS, not in the heap). Run with
// -benchtime=1x. peakRSSB/series is the peak resident set during the
// ingest (VmHWM, reset before it) over the same baseline: compare it with
// rssB/series for the ratio of peak to steady memory. The generator and
// its scrape buffer are built before the baseline and kept to the end
// (nodeScrapes), so neither figure counts them; each sample's labels are
// still built anew during the ingest (garbage, as a server's parse path
// makes without a route cache).
// TSDB_BENCH_HEAPPROFILE=dir writes each case's in-use heap
// profile there, taken while the head is full.
func BenchmarkHeadMemory(b *testing.B) {
	cases := []struct {
		scrapes int
		cache   int
	}{{1, -1}, {1, 0}, {10, -1}, {60, -1}, {119, -1}, {121, -1}}
	for _, c := range cases {
		name := "route_cache=on"
		if c.cache < 0 {
			name = "route_cache=off"
		}
		b.Run(fmt.Sprintf("series=1M/scrapes=%d/%s", c.scrapes, name), func(b *testing.B) {
			for b.Loop() {
				const hosts = 1973              // × 507 ≈ 1.0M series
				src := newNodeScrapes(b, hosts) // before the baseline: not the database's memory
				var before runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				debug.FreeOSMemory() // RSS from here on: what the heap holds, not what it held
				rss0 := rssBytes(b)
				file0 := procStatusBytes(b, "RssFile")
				// Reset VmHWM to the current RSS (Linux: clear_refs 5), so
				// that the peak below is this case's.
				hwmReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
				// HeadMaxBytes off: an early head cut in the middle would
				// measure a block write's scratch, not the head.
				db, err := Open(b.TempDir(), Options{Shards: 2, Logger: zap.NewNop(), RouteCacheSize: c.cache,
					WAL: walseg.Options{Sync: walseg.SyncNone}, HeadMaxBytes: -1, HeadGCInterval: -1})
				if err != nil {
					b.Fatal(err)
				}
				cpu0, cpuOK := processCPUTime()
				src.ingest(b, db, c.scrapes)
				series := src.g.NumSeries()
				cpu1, _ := processCPUTime()
				hwm := procStatusBytes(b, "VmHWM") // before the GCs below shrink anything
				var after runtime.MemStats
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&after)
				debug.FreeOSMemory()
				rss1 := rssBytes(b)
				file1 := procStatusBytes(b, "RssFile")
				var est, open, mapped int64
				for _, s := range db.shards {
					if err := s.View(context.Background(), func(v *shard.View) error {
						est += v.HeadBytes()
						open += v.OpenChunkBytes()
						mapped += v.MappedBytes()
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
				if dir := os.Getenv("TSDB_BENCH_HEAPPROFILE"); dir != "" {
					writeHeapProfile(b, filepath.Join(dir, fmt.Sprintf("heap-%d-%s.pprof", c.scrapes, name)))
				}
				n := float64(series)
				if cpuOK {
					// The ingest's CPU (the benchmark's generator included).
					b.ReportMetric((cpu1 - cpu0).Seconds(), "ingest-cpu-s")
				}
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heapB/series")
				b.ReportMetric(float64(rss1-rss0)/n, "rssB/series")
				// The part of it that is mapped file pages (head chunk
				// files read through their mapping).
				b.ReportMetric(float64(file1-file0)/n, "rssFileB/series")
				if hwmReset {
					// The peak during the ingest (VmHWM), over the same
					// baseline.
					b.ReportMetric(float64(hwm-rss0)/n, "peakRSSB/series")
				}
				runtime.KeepAlive(src) // in the baseline, so in the steady figure too
				b.ReportMetric(float64(est)/n, "estB/series")
				b.ReportMetric(float64(open)/n, "openB/series")
				b.ReportMetric(float64(mapped)/n, "mappedB/series")
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// writeHeapProfile writes the in-use heap profile to path (set
// TSDB_BENCH_HEAPPROFILE to a directory to have BenchmarkHeadMemory write
// one per case while the head is full; run with -memprofilerate=4096 or
// lower for a precise one).
func writeHeapProfile(tb testing.TB, path string) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		tb.Fatal(errors.Join(err, f.Close()))
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// rssBytes returns the process's resident set size (VmRSS).
func rssBytes(tb testing.TB) int64 { return procStatusBytes(tb, "VmRSS") }

// procStatusBytes returns a kB field of /proc/self/status in bytes.
func procStatusBytes(tb testing.TB, field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// ingestScrapes appends scrapes of hosts hosts, building each host's batch
// on the fly so that the benchmark holds no labels afterwards, and returns
// the series count.
func ingestScrapes(tb testing.TB, db *DB, hosts, scrapes int) int {
	src := newNodeScrapes(tb, hosts)
	src.ingest(tb, db, scrapes)
	return src.g.NumSeries()
}

// nodeScrapes is a node_exporter generator with its sample buffer sized for
// a whole scrape. BenchmarkHeadMemory builds it before its baseline and
// keeps it to the end, so that neither the generator's state (~50 B per
// series) nor its buffer (24 B per series) counts as the database's memory,
// peak or steady; what the ingest still allocates for the generator is each
// sample's labels (built anew, as a server parses them without a route
// cache), which is garbage.
type nodeScrapes struct {
	g   *loadgen.NodeExporter
	buf []loadgen.Sample
	b   stages.Batch
}

func newNodeScrapes(tb testing.TB, hosts int) *nodeScrapes {
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: hosts, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	buf := make([]loadgen.Sample, g.NumSeries())
	clear(buf) // resident now, before a baseline, not during the ingest
	return &nodeScrapes{g: g, buf: buf[:0]}
}

// ingest appends the next scrapes scrapes, one batch per host.
func (src *nodeScrapes) ingest(tb testing.TB, db *DB, scrapes int) {
	g, b := src.g, &src.b
	per, hosts := g.SeriesPerHost(), g.NumSeries()/g.SeriesPerHost()
	for range scrapes {
		src.buf = g.Next(src.buf[:0])
		for h := range hosts {
			b.Reset()
			for _, s := range src.buf[h*per : (h+1)*per] {
				b.AddSample(b.AddSeries(g.Labels(s.Series).WithoutEmpty(), nil), s.T, s.V)
			}
			if _, err := db.Append(context.Background(), b); err != nil {
				tb.Fatal(err)
			}
		}
	}
	b.Reset()
}
