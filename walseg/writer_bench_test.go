package walseg

import (
	"context"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkWriter pushes node_exporter-like sample records of 1000 samples
// (from loadgen, fixed seed, built before the timer) through encode +
// Writer. One op is one record. Patterns:
//
//   - pattern=pipelined: the shard-owner pattern — Write without waiting,
//     while a second goroutine waits for durability with up to 32 records
//     outstanding (so group commit can batch fsyncs in sync=always);
//   - pattern=log: a single caller blocking in Log per record (the
//     worst case for sync=always: one fsync per record).
//
// Quote single-core figures: go test -run XXX -bench Writer -cpu 1.
func BenchmarkWriter(b *testing.B) {
	batches := chunkSamples(loadgenSamples(b, 8, 16), 1000)
	const window = 32
	for _, mode := range []SyncMode{SyncBatch, SyncAlways} {
		for _, pattern := range []string{"pipelined", "log"} {
			b.Run("sync="+mode.String()+"/pattern="+pattern, func(b *testing.B) {
				w, err := Open(b.TempDir(), Options{Sync: mode, Logger: zap.NewNop()})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				var (
					buf     []byte
					samples int
					bytes   int64
				)
				seqs := make(chan uint64, window)
				waitErr := make(chan error, 1)
				if pattern == "pipelined" {
					go func() {
						var err error
						for seq := range seqs {
							if err == nil {
								err = w.WaitDurable(ctx, seq)
							}
						}
						waitErr <- err
					}()
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					s := batches[i%len(batches)]
					buf = AppendSamples(buf[:0], s)
					samples += len(s)
					bytes += int64(len(buf))
					if pattern == "log" {
						if err := w.Log(ctx, buf); err != nil {
							b.Fatal(err)
						}
						continue
					}
					seq, err := w.Write(buf)
					if err != nil {
						b.Fatal(err)
					}
					seqs <- seq
				}
				if pattern == "pipelined" {
					close(seqs)
					if err := <-waitErr; err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
				b.ReportMetric(float64(bytes)/1e6/b.Elapsed().Seconds(), "rawMB/s")
				b.ReportMetric(float64(w.Metrics().BytesWritten.Load())/float64(samples), "B/sample")
				b.ReportMetric(float64(w.Metrics().Fsyncs.Load())/float64(b.N), "fsyncs/op")
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkReplay reads back a WAL of loadgen sample records and decodes
// every sample: one op is one full replay.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	w, err := Open(dir, Options{Sync: SyncNone, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	batches := chunkSamples(loadgenSamples(b, 8, 16), 1000)
	var buf []byte
	total := 0
	for _, s := range batches {
		buf = AppendSamples(buf[:0], s)
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
		total += len(s)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	dst := make([]RefSample, 0, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := OpenReader(dir, ReaderOptions{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		for r.Next() {
			if dst, err = DecodeSamples(dst[:0], r.Record()); err != nil {
				b.Fatal(err)
			}
		}
		if err := r.Err(); err != nil {
			b.Fatal(err)
		}
		_ = r.Close()
	}
	b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
