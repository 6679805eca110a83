package chunkstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// benchSink keeps decoded values alive so the loops are not optimised away.
var benchSink float64

type benchWorkload struct {
	name string
	ts   [][]int64
	vs   [][]float64
}

// benchWorkloads builds the data sets before any timing starts:
//   - node: loadgen's node_exporter-like generator, 3 hosts x 480 scrapes
//     (1,521 series; 480 samples each so every chunk size fills up);
//   - node_nojitter: the same with perfectly regular scrape timestamps, to
//     separate the cost of millisecond jitter from the cost of values;
//   - regular: loadgen.Regular, 1,500 series x 480 samples, 15 s apart;
//   - real: the 40-scrape capture (507 series x 40 samples), when present.
func benchWorkloads(b *testing.B) []benchWorkload {
	b.Helper()
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: 3, Seed: 1})
	if err != nil {
		b.Fatalf("node workload: %v", err)
	}
	nts, nvs := g.Columns(480)
	g, err = loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: 3, Seed: 1, JitterMs: -1})
	if err != nil {
		b.Fatalf("node_nojitter workload: %v", err)
	}
	jts, jvs := g.Columns(480)
	rts, rvs := loadgen.Regular(1500, 480, 1767225600000, 15*time.Second)
	ws := []benchWorkload{{"node", nts, nvs}, {"node_nojitter", jts, jvs}, {"regular", rts, rvs}}
	if ts, vs, ok := tryLoadRealData(b); ok {
		ws = append(ws, benchWorkload{"real", ts, vs})
	}
	return ws
}

// tryLoadRealData is loadRealData without skipping the caller.
func tryLoadRealData(b *testing.B) (ts [][]int64, vs [][]float64, ok bool) {
	b.Helper()
	b.Run("load_real", func(b *testing.B) {
		ts, vs = loadRealData(b)
		b.SkipNow() // not a benchmark; keeps its own output out of results
	})
	return ts, vs, ts != nil
}

func countSamples(ts [][]int64) int {
	n := 0
	for _, s := range ts {
		n += len(s)
	}
	return n
}

var benchSizes = []int{60, 120, 240, 480}

// BenchmarkEncode appends every series, cut into chunks of size samples,
// into a reused buffer. B/sample is the payload, rec_B/sample the record.
func BenchmarkEncode(b *testing.B) {
	for _, w := range benchWorkloads(b) {
		n := countSamples(w.ts)
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("workload=%s/size=%d", w.name, size), func(b *testing.B) {
				payload, rec, _ := encodeColumns(w.ts, w.vs, size, nil)
				buf := make([]byte, 0, 64*size+64)
				b.SetBytes(int64(16 * n))
				b.ReportAllocs()
				var a Appender
				cpu := startCPU()
				for b.Loop() {
					for i := range w.ts {
						ts, vs := w.ts[i], w.vs[i]
						for lo := 0; lo < len(ts); lo += size {
							hi := min(lo+size, len(ts))
							a.Reset(buf)
							for k := lo; k < hi; k++ {
								a.Append(ts[k], vs[k])
							}
						}
					}
				}
				reportRates(b, n, cpu)
				b.ReportMetric(float64(payload)/float64(n), "B/sample")
				b.ReportMetric(float64(rec)/float64(n), "rec_B/sample")
			})
		}
	}
}

// benchIterate is the timed loop of the decode benchmarks: it iterates every
// chunk to the end (n samples in all) and reports rates and allocations.
func benchIterate(b *testing.B, chunks []Chunk, n int) {
	b.Helper()
	b.SetBytes(int64(16 * n))
	b.ReportAllocs()
	var it Iterator
	var sum float64
	cpu := startCPU()
	for b.Loop() {
		for _, c := range chunks {
			c.Iterator(&it)
			for it.Next() {
				_, v := it.At()
				sum += v
			}
			if it.Err() != nil {
				b.Fatal(it.Err())
			}
		}
	}
	benchSink = sum
	reportRates(b, n, cpu)
}

// BenchmarkDecode iterates every chunk of a workload to the end.
func BenchmarkDecode(b *testing.B) {
	for _, w := range benchWorkloads(b) {
		n := countSamples(w.ts)
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("workload=%s/size=%d", w.name, size), func(b *testing.B) {
				chunks := encodeChunks(w.ts, w.vs, size)
				benchIterate(b, chunks, n)
			})
		}
	}
}

// BenchmarkRecord frames and then decodes (CRC included) every chunk.
func BenchmarkRecord(b *testing.B) {
	for _, w := range benchWorkloads(b) {
		const size = DefaultSamplesPerChunk
		b.Run(fmt.Sprintf("workload=%s/size=%d", w.name, size), func(b *testing.B) {
			chunks := encodeChunks(w.ts, w.vs, size)
			var buf []byte
			for _, c := range chunks {
				buf = AppendRecord(buf, c)
			}
			n := countSamples(w.ts)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				buf = buf[:0]
				for _, c := range chunks {
					buf = AppendRecord(buf, c)
				}
				for off := 0; off < len(buf); {
					_, next, err := DecodeRecord(buf, off)
					if err != nil {
						b.Fatal(err)
					}
					off = next
				}
			}
			reportRates(b, n, cpu)
		})
	}
}

// encodeChunks encodes each series into its own buffers, cut every size
// samples.
func encodeChunks(ts [][]int64, vs [][]float64, size int) []Chunk {
	var chunks []Chunk
	var a Appender
	for i := range ts {
		for lo := 0; lo < len(ts[i]); lo += size {
			hi := min(lo+size, len(ts[i]))
			a.Reset(nil)
			for k := lo; k < hi; k++ {
				a.Append(ts[i][k], vs[i][k])
			}
			chunks = append(chunks, a.Chunk())
		}
	}
	return chunks
}

// startCPU reads the process CPU time before a timed loop.
func startCPU() time.Duration {
	t, _ := processCPUTime()
	return t
}

// reportRates reports samples/s over wall time and samples/cpu-s over the
// process CPU time spent since start (see processCPUTime).
func reportRates(b *testing.B, samplesPerOp int, start time.Duration) {
	total := float64(samplesPerOp) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "samples/s")
	if end, ok := processCPUTime(); ok && end > start {
		b.ReportMetric(total/(end-start).Seconds(), "samples/cpu-s")
	}
}
