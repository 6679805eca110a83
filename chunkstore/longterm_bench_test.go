package chunkstore

import (
	"fmt"
	"math"
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

// BenchmarkLongTermReadEnd reads the samples of the last tail ms of every
// re-encoded chunk, as an instant query or a raw range selection at the
// newest time does: mode=seek decodes the chunk whole (Reset, SeekTo),
// mode=from uses ResetFrom. samples/cpu-s counts the chunk's samples
// (what a whole decode would have produced), cpu-µs/chunk is CPU per
// chunk.
func BenchmarkLongTermReadEnd(b *testing.B) {
	for _, w := range longTermWorkloads(b) {
		src := seriesChunks(w)
		own := reencodeAll(b, src, ReencodeOptions{MaxSamples: 2880})
		shared := sharedChunks(b, own)
		for _, tail := range []int64{5 * 60_000, 3600_000} {
			for _, cols := range []string{"own", "shared"} {
				chunks := own
				if cols == "shared" {
					chunks = shared
				}
				n := 0
				for _, c := range chunks {
					n += c.NumSamples
				}
				for _, mode := range []string{"seek", "from"} {
					b.Run(fmt.Sprintf("workload=%s/tail=%dm/ts=%s/mode=%s", w.name, tail/60_000, cols, mode), func(b *testing.B) {
						b.ReportAllocs()
						var it Iterator
						var sum float64
						cpu := startCPU()
						for b.Loop() {
							for _, c := range chunks {
								from := c.MaxT - tail
								if mode == "from" {
									it.ResetFrom(c, from)
								} else {
									c.Iterator(&it)
									if !it.SeekTo(from) {
										b.Fatal("no sample")
									}
									_, v := it.At()
									sum += v
								}
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
						if end := startCPU(); end > cpu {
							b.ReportMetric(float64(end-cpu)/1e3/float64(b.N)/float64(len(chunks)), "cpu-µs/chunk")
						}
					})
				}
			}
		}
	}
}

// sharedChunks re-encodes each decimal chunk as an EncDecimalShared chunk
// over its own decoded timestamp column, as a block with shared columns
// serves them (the column's decode, cached by the block, is not timed).
func sharedChunks(b *testing.B, chunks []Chunk) []Chunk {
	b.Helper()
	var e DecimalEncoder
	var out []Chunk
	for _, c := range chunks {
		ss, err := decodeAll(c)
		if err != nil {
			b.Fatal(err)
		}
		ts := make([]int64, len(ss))
		vs := make([]float64, len(ss))
		for i, s := range ss {
			ts[i], vs[i] = s.t, math.Float64frombits(s.v)
		}
		sc, ok, err := e.EncodeShared(nil, 1, ts, vs)
		if err != nil {
			b.Fatal(err)
		}
		if !ok {
			continue
		}
		sc.Data = append([]byte(nil), sc.Data...)
		sc.Timestamps = ts
		out = append(out, sc)
	}
	return out
}
