package chunkstore

import (
	"fmt"
	"math"
	"testing"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// sharedRCWorkloads: node = loadgen's node_exporter generator, 1 host x
// 1 day (507 series x 5,760 samples, chunks of 2,880 as compaction
// writes); real2h = the repository's 2 h capture (507 series x 480
// scrapes, one chunk per series, as BenchmarkRealBlockBytes compacts
// it), when present.
func sharedRCWorkloads(b *testing.B) []benchWorkload {
	b.Helper()
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: 1, Seed: 1})
	if err != nil {
		b.Fatalf("node workload: %v", err)
	}
	nts, nvs := g.Columns(5760)
	ws := []benchWorkload{{"node", nts, nvs}}
	if c, err := loadgen.ReadCaptureFile("../perf/testdata/node_exporter_2h.prom.zst"); err == nil {
		var ts [][]int64
		var vs [][]float64
		for i := range c.Series() {
			var st []int64
			var sv []float64
			for k := range c.Scrapes() {
				if t, v, ok := c.At(k, i); ok {
					st, sv = append(st, t), append(sv, v)
				}
			}
			ts, vs = append(ts, st), append(vs, sv)
		}
		ws = append(ws, benchWorkload{"real2h", ts, vs})
	}
	return ws
}

// sharedRCChunks encodes every series in pieces of at most size samples
// as values-only chunks over their own column: mode shared =
// EncDecimalShared only (range coding off), rc = range-coded where it
// pays (what compaction writes with CompactOptions.RangeCoded), rcall =
// range-coded wherever possible. Series that are not decimal enough are
// left out (they stay EncXOR in a block). It returns the chunks and the
// number of range-coded ones.
func sharedRCChunks(b *testing.B, w benchWorkload, size int, mode string) ([]Chunk, int) {
	b.Helper()
	e := &DecimalEncoder{rcForce: mode == "rcall"}
	e.SetRangeCoded(mode != "shared")
	var out []Chunk
	rc := 0
	for i := range w.ts {
		n := len(w.ts[i])
		pieces := (n + size - 1) / size
		for p := range pieces {
			lo, hi := p*n/pieces, (p+1)*n/pieces
			ts, vs := w.ts[i][lo:hi], w.vs[i][lo:hi]
			c, ok, err := e.EncodeShared(nil, 1, ts, vs)
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				continue
			}
			if c.Enc == EncDecimalSharedRC {
				rc++
			}
			c.Data = append([]byte(nil), c.Data...)
			c.Timestamps = ts
			out = append(out, c)
		}
	}
	return out, rc
}

// BenchmarkSharedDecode iterates every values-only chunk to the end, as a
// query reading compacted blocks does (the shared column's decode, cached
// by the block, is not timed). B/sample is the payload; rc-chunks the
// share of chunks written range-coded.
func BenchmarkSharedDecode(b *testing.B) {
	for _, w := range sharedRCWorkloads(b) {
		size := 2880
		if w.name == "real2h" {
			size = 480
		}
		for _, mode := range []string{"shared", "rc", "rcall"} {
			b.Run(fmt.Sprintf("workload=%s/size=%d/enc=%s", w.name, size, mode), func(b *testing.B) {
				chunks, rc := sharedRCChunks(b, w, size, mode)
				n, payload := 0, 0
				for _, c := range chunks {
					n += c.NumSamples
					payload += len(c.Data)
				}
				benchIterate(b, chunks, n)
				b.ReportMetric(float64(payload)/float64(n), "B/sample")
				b.ReportMetric(float64(rc)/float64(max(len(chunks), 1)), "rc-chunks")
			})
		}
	}
}

// BenchmarkSharedEncode measures the values-only encoder as compaction
// calls it, with range coding off and on.
func BenchmarkSharedEncode(b *testing.B) {
	for _, w := range sharedRCWorkloads(b) {
		size := 2880
		if w.name == "real2h" {
			size = 480
		}
		for _, mode := range []string{"shared", "rc"} {
			b.Run(fmt.Sprintf("workload=%s/size=%d/enc=%s", w.name, size, mode), func(b *testing.B) {
				e := &DecimalEncoder{}
				e.SetRangeCoded(mode == "rc")
				n := countSamples(w.ts)
				var buf []byte
				b.SetBytes(int64(16 * n))
				b.ReportAllocs()
				cpu := startCPU()
				for b.Loop() {
					for i := range w.ts {
						ln := len(w.ts[i])
						pieces := (ln + size - 1) / size
						for p := range pieces {
							lo, hi := p*ln/pieces, (p+1)*ln/pieces
							c, _, err := e.EncodeShared(buf, 1, w.ts[i][lo:hi], w.vs[i][lo:hi])
							if err != nil {
								b.Fatal(err)
							}
							if c.Data != nil {
								buf = c.Data
							}
						}
					}
				}
				benchSink = math.Float64frombits(uint64(len(buf)))
				reportRates(b, n, cpu)
			})
		}
	}
}
