package chunkstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// longTermWorkloads: node = loadgen's node_exporter generator, 1 host x
// 1 day (507 series x 5,760 samples); regular = loadgen.Regular, 500 series
// x 5,760 samples; real = the 40-scrape capture, when present.
func longTermWorkloads(b *testing.B) []benchWorkload {
	b.Helper()
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: 1, Seed: 1})
	if err != nil {
		b.Fatalf("node workload: %v", err)
	}
	nts, nvs := g.Columns(5760)
	rts, rvs := loadgen.Regular(500, 5760, 1767225600000, 15*time.Second)
	ws := []benchWorkload{{"node", nts, nvs}, {"regular", rts, rvs}}
	if ts, vs, ok := tryLoadRealData(b); ok {
		ws = append(ws, benchWorkload{"real", ts, vs})
	}
	return ws
}

// reencodeAll re-encodes each series (given as 120-sample XOR chunks) with
// o and returns the output chunks, each with its own copy of the payload.
func reencodeAll(b *testing.B, src [][]Chunk, o ReencodeOptions) []Chunk {
	b.Helper()
	r := NewReencoder(o)
	var out, tmp []Chunk
	var err error
	for _, s := range src {
		if tmp, err = r.Reencode(tmp[:0], s); err != nil {
			b.Fatal(err)
		}
		for _, c := range tmp {
			c.Data = append([]byte(nil), c.Data...)
			out = append(out, c)
		}
	}
	return out
}

func seriesChunks(w benchWorkload) [][]Chunk {
	src := make([][]Chunk, len(w.ts))
	for i := range w.ts {
		src[i] = encodeChunks(w.ts[i:i+1], w.vs[i:i+1], DefaultSamplesPerChunk)
	}
	return src
}

var longTermSizes = []int{120, 480, 2880}

var longTermEncs = []struct {
	name string
	enc  Encoding
}{{"xor", EncXOR}, {"decimal", EncDecimal}, {"best", EncNone}}

// BenchmarkLongTermDecode iterates every re-encoded chunk to the end (a
// query reading whole chunks). B/sample is the payload.
func BenchmarkLongTermDecode(b *testing.B) {
	for _, w := range longTermWorkloads(b) {
		n := countSamples(w.ts)
		src := seriesChunks(w)
		for _, size := range longTermSizes {
			for _, e := range longTermEncs {
				b.Run(fmt.Sprintf("workload=%s/size=%d/enc=%s", w.name, size, e.name), func(b *testing.B) {
					chunks := reencodeAll(b, src, ReencodeOptions{MaxSamples: size, Encodings: e.enc})
					payload := 0
					for _, c := range chunks {
						payload += len(c.Data)
					}
					benchIterate(b, chunks, n)
					b.ReportMetric(float64(payload)/float64(n), "B/sample")
				})
			}
		}
	}
}

// BenchmarkReencode measures compaction's re-encoding: decode a series'
// 120-sample XOR chunks and write long chunks in the per-chunk best
// encoding (both candidates are encoded).
func BenchmarkReencode(b *testing.B) {
	for _, w := range longTermWorkloads(b) {
		n := countSamples(w.ts)
		src := seriesChunks(w)
		for _, size := range longTermSizes {
			b.Run(fmt.Sprintf("workload=%s/size=%d", w.name, size), func(b *testing.B) {
				r := NewReencoder(ReencodeOptions{MaxSamples: size})
				var out []Chunk
				var err error
				b.SetBytes(int64(16 * n))
				b.ReportAllocs()
				cpu := startCPU()
				for b.Loop() {
					for _, s := range src {
						if out, err = r.Reencode(out[:0], s); err != nil {
							b.Fatal(err)
						}
					}
				}
				reportRates(b, n, cpu)
			})
		}
	}
}
