package block

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/loadgen"
)

// benchSink keeps benchmark results alive.
var benchSink Meta

// benchSeries is one series of the node_exporter workload, pre-encoded.
type benchSeries struct {
	lset   labels.Labels
	chunks []chunkstore.Chunk
}

// nodeExporterBlock returns hosts×~507 series with scrapes samples each
// (15 s interval from start), sorted by labels and cut into chunks of
// chunkstore.DefaultSamplesPerChunk, plus the sample count.
func nodeExporterBlock(b *testing.B, hosts, scrapes int, start int64) (series []benchSeries, samples int, mint, maxt int64) {
	b.Helper()
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: hosts, Seed: 1, Start: start, Interval: 15 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ts, vs := g.Columns(scrapes)
	out := make([]benchSeries, g.NumSeries())
	mint, maxt = math.MaxInt64, math.MinInt64
	for i := range out {
		// NB: loadgen emits some empty label values; the data model
		// (and the block writer) treats them as absent.
		lb := labels.NewBuilder(g.Labels(i))
		g.Labels(i).Range(func(l labels.Label) {
			if l.Value == "" {
				lb.Del(l.Name)
			}
		})
		out[i].lset = lb.Labels()
		for j := 0; j < len(ts[i]); j += chunkstore.DefaultSamplesPerChunk {
			var a chunkstore.Appender
			a.Reset(nil)
			for k := j; k < min(j+chunkstore.DefaultSamplesPerChunk, len(ts[i])); k++ {
				a.Append(ts[i][k], vs[i][k])
			}
			out[i].chunks = append(out[i].chunks, a.Chunk())
			mint, maxt = min(mint, a.MinTime()), max(maxt, a.MaxTime()+1)
			samples += a.NumSamples()
		}
	}
	sortBench(out)
	return out, samples, mint, maxt
}

func sortBench(s []benchSeries) {
	for i := 1; i < len(s); i++ { // insertion sort keeps the helper dependency-free
		for j := i; j > 0 && labels.Compare(s[j-1].lset, s[j].lset) > 0; j-- {
			s[j-1], s[j] = s[j], s[j-1]
		}
	}
}

func writeBench(b *testing.B, parent string, series []benchSeries, mint, maxt int64) Meta {
	b.Helper()
	w, err := NewWriter(parent, mint, maxt, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range series {
		if err := w.AddSeries(s.lset, s.chunks); err != nil {
			b.Fatal(err)
		}
	}
	m, err := w.Finish()
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// blockBytes returns the size of the index plus the chunk segments.
func blockBytes(b *testing.B, dir string) (index, chunks int64) {
	b.Helper()
	st, err := os.Stat(filepath.Join(dir, indexFilename))
	if err != nil {
		b.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, chunksDirname))
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			b.Fatal(err)
		}
		chunks += fi.Size()
	}
	return st.Size(), chunks
}

const (
	benchInterval = 15_000            // ms
	benchBase     = 1_700_000_000_000 // ms; loadgen treats Start 0 as "now"
)

// BenchmarkWrite writes a 2 h block of node_exporter data (fsyncs
// included). MB/s counts the bytes of the block written.
func BenchmarkWrite(b *testing.B) {
	for _, hosts := range []int{4} {
		b.Run("workload=node/hosts="+itoa(hosts), func(b *testing.B) {
			const scrapes = 480 // 2 h
			series, samples, mint, maxt := nodeExporterBlock(b, hosts, scrapes, benchBase)
			parent := b.TempDir()
			m := writeBench(b, parent, series, mint, maxt)
			ix, ch := blockBytes(b, filepath.Join(parent, m.ULID.String()))
			b.SetBytes(ix + ch)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				benchSink = writeBench(b, parent, series, mint, maxt)
				b.StopTimer()
				if err := os.RemoveAll(filepath.Join(parent, benchSink.ULID.String())); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(samples)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(ix+ch)/float64(samples), "B/sample")
			b.ReportMetric(float64(ix)/float64(samples), "index-B/sample")
		})
	}
}

// BenchmarkCompact merges three node_exporter blocks: adjacent 2 h blocks
// (chunks copied) or three overlapping copies of the same 2 h (vertical
// merge, every chunk decoded, de-duplicated and re-encoded). MB/s counts the
// input blocks' bytes.
func BenchmarkCompact(b *testing.B) {
	const scrapes = 480
	for _, mode := range []string{"adjacent", "overlapping"} {
		b.Run("workload=node/hosts=4/inputs=3/mode="+mode, func(b *testing.B) {
			parent := b.TempDir()
			var blocks []*Block
			var inBytes int64
			samples := 0
			for i := range 3 {
				start := int64(benchBase)
				if mode == "adjacent" {
					start += int64(i) * 2 * scrapes * benchInterval
				}
				series, n, mint, maxt := nodeExporterBlock(b, 4, scrapes, start)
				samples += n
				m := writeBench(b, parent, series, mint, maxt)
				blk, err := Open(filepath.Join(parent, m.ULID.String()), OpenOptions{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = blk.Close() })
				ix, ch := blockBytes(b, blk.Dir())
				inBytes += ix + ch
				blocks = append(blocks, blk)
			}
			out := b.TempDir()
			b.SetBytes(inBytes)
			b.ReportAllocs()
			var outBytes int64
			b.ResetTimer()
			for b.Loop() {
				m, err := Compact(out, blocks, CompactOptions{})
				if err != nil {
					b.Fatal(err)
				}
				benchSink = m
				b.StopTimer()
				ix, ch := blockBytes(b, filepath.Join(out, m.ULID.String()))
				outBytes = ix + ch
				if err := os.RemoveAll(filepath.Join(out, m.ULID.String())); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(samples)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(outBytes)/float64(benchSink.Stats.NumSamples), "out-B/sample")
		})
	}
}

func itoa(n int) string {
	return strconv.Itoa(n)
}
