package walseg

import (
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// sink keeps benchmark results alive.
var sink []byte

// BenchmarkCodec measures the candidate frame codecs on real sample
// records of 1000 samples: MB/s of raw body compressed (SetBytes) and
// B/sample stored. It is the measurement behind the choice of zstd in
// docs/format/wal.md §3.1.
func BenchmarkCodec(b *testing.B) {
	datasets := []struct {
		name    string
		samples func(testing.TB) []RefSample
	}{
		{name: "real", samples: realSamples},
		{name: "loadgen", samples: func(tb testing.TB) []RefSample { return loadgenSamples(tb, 4, 20) }},
	}
	zfast, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	zdef, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	defer zfast.Close()
	defer zdef.Close()
	codecs := []struct {
		name string
		enc  func(dst, src []byte) []byte
	}{
		{name: "none", enc: func(dst, src []byte) []byte { return append(dst[:0], src...) }},
		{name: "zstd-fastest", enc: func(dst, src []byte) []byte { return zfast.EncodeAll(src, dst[:0]) }},
		{name: "zstd-default", enc: func(dst, src []byte) []byte { return zdef.EncodeAll(src, dst[:0]) }},
		{name: "s2", enc: func(dst, src []byte) []byte { return s2.Encode(dst[:cap(dst)], src) }},
		{name: "s2-better", enc: func(dst, src []byte) []byte { return s2.EncodeBetter(dst[:cap(dst)], src) }},
		{name: "snappy", enc: func(dst, src []byte) []byte { return snappy.Encode(dst[:cap(dst)], src) }},
	}
	for _, ds := range datasets {
		b.Run("data="+ds.name, func(b *testing.B) {
			batches := chunkSamples(ds.samples(b), 1000)
			var recs [][]byte
			raw, nsamples := 0, 0
			for _, s := range batches {
				r := AppendSamples(nil, s)
				recs = append(recs, r)
				raw += len(r) - 1
				nsamples += len(s)
			}
			for _, c := range codecs {
				b.Run("codec="+c.name, func(b *testing.B) {
					dst := make([]byte, s2.MaxEncodedLen(1<<20))
					stored := 0
					for _, r := range recs {
						stored += len(c.enc(dst, r[1:]))
					}
					b.SetBytes(int64(raw / len(recs)))
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						r := recs[i%len(recs)]
						sink = c.enc(dst, r[1:])
					}
					b.ReportMetric(float64(stored)/float64(nsamples), "B/sample")
					b.ReportMetric(float64(raw)/float64(stored), "ratio")
					b.ReportMetric(float64(b.N)*float64(nsamples)/float64(len(recs))/b.Elapsed().Seconds(), "samples/s")
				})
			}
		})
	}
}

// BenchmarkDecompress measures reading sample records back per codec.
func BenchmarkDecompress(b *testing.B) {
	recs := [][]byte{}
	for _, s := range chunkSamples(realSamples(b), 1000) {
		recs = append(recs, AppendSamples(nil, s))
	}
	zenc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	zdec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	defer zenc.Close()
	defer zdec.Close()
	for _, c := range []string{"zstd", "s2"} {
		b.Run("codec="+c, func(b *testing.B) {
			var comp [][]byte
			raw := 0
			for _, r := range recs {
				raw += len(r) - 1
				if c == "zstd" {
					comp = append(comp, zenc.EncodeAll(r[1:], nil))
				} else {
					comp = append(comp, s2.Encode(nil, r[1:]))
				}
			}
			b.SetBytes(int64(raw / len(recs)))
			b.ReportAllocs()
			dst := make([]byte, 0, 1<<20)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var err error
				if c == "zstd" {
					dst, err = zdec.DecodeAll(comp[i%len(comp)], dst[:0])
				} else {
					dst, err = s2.Decode(dst[:cap(dst)], comp[i%len(comp)])
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
