package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
)

// benchStart is a fixed start (2026-01-01) so that every run encodes the
// same bytes.
const benchStart = 1767225600000

// newBenchWorker returns one worker over hosts node_exporter-like hosts
// that sends protocol p to target, unpaced (the backfill workload over a
// range it never reaches).
func newBenchWorker(tb testing.TB, p Protocol, hosts int, target Target) *worker {
	tb.Helper()
	c, err := Config{
		Workload: WorkloadBackfill, Protocol: p, Target: target, Hosts: hosts, Seed: 1,
		Start: benchStart, BackfillRange: 1000 * 24 * time.Hour, Concurrency: 1,
	}.withDefaults(benchStart)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := newShape(&c)
	if err != nil {
		tb.Fatal(err)
	}
	var st stats
	w, err := newWorker(&c, s, 0, c.Hosts, nil, &st)
	if err != nil {
		tb.Fatal(err)
	}
	w.timer = time.NewTimer(time.Hour)
	w.timer.Stop()
	return w
}

// BenchmarkGenerate measures the generator alone: scrapes of 100
// node_exporter-like hosts (50,700 series) encoded for each protocol in
// requests of 2,000 samples and sent to a NullTarget. One op is one host
// scrape (507 samples). Quote with -cpu=1.
func BenchmarkGenerate(b *testing.B) {
	for _, p := range Protocols {
		b.Run("protocol="+string(p), func(b *testing.B) {
			var sink NullTarget
			w := newBenchWorker(b, p, 100, &sink)
			ctx := context.Background()
			// Warm up: every host's value cache and the buffers.
			for range 200 {
				if err := w.step(ctx, ctx); err != nil {
					b.Fatal(err)
				}
			}
			samples0 := w.st.samples.Load() + int64(w.pending)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := w.step(ctx, ctx); err != nil {
					b.Fatal(err)
				}
			}
			samples := w.st.samples.Load() + int64(w.pending) - samples0
			b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(samples)/float64(b.N), "samples/op")
			if req := w.st.requests.Load(); req > 0 {
				b.ReportMetric(float64(sink.Bytes())/float64(w.st.samples.Load()), "B/sample")
			}
		})
	}
}

// BenchmarkSnappy measures the snappy share of remote write 1.0: one
// 2,000-sample request of the node workload compressed per op.
func BenchmarkSnappy(b *testing.B) {
	var r recorder
	w := newBenchWorker(b, ProtocolRW1, 100, &r)
	ctx := context.Background()
	for len(r.payloads) < 50 {
		if err := w.step(ctx, ctx); err != nil {
			b.Fatal(err)
		}
	}
	raw, err := snappy.Decode(nil, r.payloads[len(r.payloads)-1].Body)
	if err != nil {
		b.Fatal(err)
	}
	var dst []byte
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		dst = snappyBlock(dst, raw)
	}
	b.ReportMetric(float64(DefaultBatch)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(len(dst))/DefaultBatch, "B/sample")
}
