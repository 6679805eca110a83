package postings

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// Benchmark data: a node_exporter-like shard of ~1M series (2000 hosts from
// loadgen, refs assigned host-major as scrapes arrive) plus a wide metric
// whose "pod" label has 10,000 values (one series each), the shape that
// stresses per-pair overhead and regex scans. Built once per process.
const (
	benchHosts   = 2000
	benchPods    = 10000
	benchSeed    = 1
	benchInstace = "host-10123:9100"
)

var bench struct {
	once        sync.Once
	ix          *Index
	r           *Reader
	numSeries   int
	indexBytes  uint64 // heap growth for building ix, after GC
	encodedSize int
	err         error
}

func benchData(b *testing.B) {
	b.Helper()
	bench.once.Do(func() {
		g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: benchHosts, Seed: benchSeed})
		if err != nil {
			bench.err = err
			return
		}
		before := heapAfterGC()
		ix := NewIndex()
		n := g.NumSeries()
		for i := range n {
			ix.Add(uint32(i), g.Labels(i))
		}
		for p := range benchPods {
			ix.Add(uint32(n+p), labels.FromStrings(
				"__name__", "kube_pod_info",
				"namespace", fmt.Sprintf("ns-%d", p%50),
				"pod", fmt.Sprintf("pod-%05d", p),
			))
		}
		bench.indexBytes = heapAfterGC() - before
		runtime.KeepAlive(g)
		bench.ix = ix
		bench.numSeries = ix.NumSeries()
		enc, err := ix.AppendTo(nil)
		if err != nil {
			bench.err = err
			return
		}
		bench.encodedSize = len(enc)
		bench.r, bench.err = NewReader(enc)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
}

func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

var benchSink *roaring.Bitmap

// BenchmarkIndexMemory reports the in-memory index size per series
// (runtime heap growth after GC divided by series) and the serialized size,
// for the node_exporter-like 1M-series shard (shape=node) and for 200K
// series that each carry a unique id label (shape=unique_id, the worst case
// for per-pair overhead).
func BenchmarkIndexMemory(b *testing.B) {
	b.Run("shape=node", func(b *testing.B) {
		benchData(b)
		b.ReportAllocs()
		for b.Loop() {
		}
		b.ReportMetric(float64(bench.indexBytes)/float64(bench.numSeries), "B/series")
		b.ReportMetric(float64(bench.encodedSize)/float64(bench.numSeries), "disk-B/series")
		b.ReportMetric(float64(bench.numSeries), "series")
	})
	b.Run("shape=unique_id", func(b *testing.B) {
		const n = 200000
		lsets := make([]labels.Labels, n)
		for i := range lsets {
			lsets[i] = labels.FromStrings("__name__", fmt.Sprintf("metric_%d", i%100), "id", fmt.Sprintf("id-%08d", i), "job", "app")
		}
		before := heapAfterGC()
		ix := NewIndex()
		for i, lset := range lsets {
			ix.Add(uint32(i), lset)
		}
		grown := heapAfterGC() - before
		enc, err := ix.AppendTo(nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
		}
		b.ReportMetric(float64(grown)/n, "B/series")
		b.ReportMetric(float64(len(enc))/n, "disk-B/series")
		b.ReportMetric(n, "series")
		runtime.KeepAlive(lsets)
		runtime.KeepAlive(ix)
	})
}

func BenchmarkSelect(b *testing.B) {
	benchData(b)
	eq := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchEqual, n, v) }
	neq := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchNotEqual, n, v) }
	re := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchRegexp, n, v) }
	nre := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchNotRegexp, n, v) }
	queries := []struct {
		name string
		ms   []*labels.Matcher
	}{
		{"exact_instance", []*labels.Matcher{eq("instance", benchInstace)}},
		{"exact_metric", []*labels.Matcher{eq("__name__", "node_cpu_seconds_total")}},
		{"two_exact", []*labels.Matcher{eq("__name__", "node_cpu_seconds_total"), eq("instance", benchInstace)}},
		{"regex_alternation", []*labels.Matcher{re("__name__", "node_load1|node_load5|node_load15")}},
		{"regex_prefix_hosts", []*labels.Matcher{eq("__name__", "node_cpu_seconds_total"), re("instance", "host-101.*")}},
		{"regex_10k_values", []*labels.Matcher{eq("__name__", "kube_pod_info"), re("pod", "pod-.*[37]")}},
		{"negative", []*labels.Matcher{eq("__name__", "node_cpu_seconds_total"), neq("mode", "idle")}},
		{"negative_regex", []*labels.Matcher{re("__name__", "node_network_.*_total"), nre("device", "ifb.*|lo")}},
		{"job_all", []*labels.Matcher{eq("job", "node")}},
	}
	for _, src := range []struct {
		name string
		q    querier
	}{{"mem", bench.ix}, {"reader", bench.r}} {
		for _, q := range queries {
			b.Run(fmt.Sprintf("index=%s/query=%s", src.name, q.name), func(b *testing.B) {
				b.ReportAllocs()
				var n uint64
				for b.Loop() {
					bm, err := src.q.Select(q.ms...)
					if err != nil {
						b.Fatal(err)
					}
					n = bm.GetCardinality()
					benchSink = bm
				}
				b.ReportMetric(float64(n), "series/op")
			})
		}
	}
}

func BenchmarkLabelValues(b *testing.B) {
	benchData(b)
	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "node_load1")
	for _, src := range []struct {
		name string
		q    querier
	}{{"mem", bench.ix}, {"reader", bench.r}} {
		b.Run("index="+src.name+"/name=instance/matchers=1", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := src.q.LabelValues("instance", m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAdd measures building a head index of one scrape of 100 hosts.
func BenchmarkAdd(b *testing.B) {
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: 100, Seed: benchSeed})
	if err != nil {
		b.Fatal(err)
	}
	lsets := make([]labels.Labels, g.NumSeries())
	for i := range lsets {
		lsets[i] = g.Labels(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		ix := NewIndex()
		for i, lset := range lsets {
			ix.Add(uint32(i), lset)
		}
	}
	b.ReportMetric(float64(len(lsets))*float64(b.N)/b.Elapsed().Seconds(), "series/s")
}
