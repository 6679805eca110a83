package block

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// BenchmarkLongTerm measures the shipped long-term re-encoding (shared
// timestamps, the rest re-encoded per series: what a head cut and every
// compaction of the database write), on one core's worth of work:
//   - cut: WriteSeries of a 2 h range of 2 node_exporter hosts from
//     120-sample XOR chunks into chunks of at most 120 (what a head cut
//     does);
//   - compact/input=xor: Compact of six such 2 h blocks as XOR chunks into
//     one 12 h block (level 1 as it was before head cuts wrote dense
//     blocks);
//   - compact/input=dense: the same six blocks as the head cut now writes
//     them.
//
// samples/s is the figure to compare across modes (samples/cpu-s beside it,
// with -cpu 1, is what a core does regardless of the machine's load; it
// counts the time the loop stops the timer for too); MB/s counts the input
// (the chunks given to WriteSeries, or the input blocks' bytes).
func BenchmarkLongTerm(b *testing.B) {
	const scrapes, hosts, blocks = 480, 2, 6
	// max is the chunk bound: 120 for a head cut (shard.cutChunkSamples), 0
	// (2,880) for compaction.
	// The options are the shard's (shard.longTermOptions, and for the cut
	// shard.writeSnapshotBlock's ConstantSamples).
	opts := func(max int) CompactOptions {
		re := chunkstore.NewReencoder(chunkstore.ReencodeOptions{MaxSamples: max})
		o := CompactOptions{SharedTimestamps: true, LongTermSamples: max,
			Writer: WriterOptions{CompressIndex: true},
			Rechunk: func(dst []chunkstore.Chunk, _ labels.Labels, src []chunkstore.Chunk) ([]chunkstore.Chunk, error) {
				return re.Reencode(dst, src)
			}}
		if max == chunkstore.DefaultSamplesPerChunk {
			o.ConstantSamples = chunkstore.DefaultLongTermSamples
		} else {
			o.RangeCoded = true // compaction only
		}
		return o
	}
	type input struct {
		series     []benchSeries
		samples    int
		mint, maxt int64
	}
	var ins []input
	for i := range blocks {
		s, n, mint, maxt := nodeExporterBlock(b, hosts, scrapes, benchBase+int64(i)*scrapes*benchInterval)
		ins = append(ins, input{s, n, mint, maxt})
	}
	each := func(in input) func(yield func(labels.Labels, []chunkstore.Chunk) error) error {
		return func(yield func(labels.Labels, []chunkstore.Chunk) error) error {
			for _, s := range in.series {
				if err := yield(s.lset, s.chunks); err != nil {
					return err
				}
			}
			return nil
		}
	}
	b.Run("mode=cut", func(b *testing.B) {
		in := ins[0]
		var n int64
		for _, s := range in.series {
			for _, c := range s.chunks {
				n += int64(len(c.Data))
			}
		}
		b.SetBytes(n)
		b.ReportAllocs()
		out := b.TempDir()
		cpu0, cpuOK := processCPUTime()
		for b.Loop() {
			m, err := WriteSeries(out, in.mint, in.maxt, each(in), opts(chunkstore.DefaultSamplesPerChunk))
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := os.RemoveAll(filepath.Join(out, m.ULID.String())); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(in.samples)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		if cpu1, ok := processCPUTime(); ok && cpuOK {
			b.ReportMetric(float64(in.samples)*float64(b.N)/(cpu1-cpu0).Seconds(), "samples/cpu-s")
		}
	})
	for _, mode := range []string{"xor", "dense"} {
		b.Run("mode=compact/input="+mode, func(b *testing.B) {
			parent := b.TempDir()
			var bs []*Block
			var inBytes int64
			samples := 0
			for _, in := range ins {
				var m Meta
				if mode == "xor" {
					m = writeBench(b, parent, in.series, in.mint, in.maxt)
				} else {
					var err error
					if m, err = WriteSeries(parent, in.mint, in.maxt, each(in), opts(chunkstore.DefaultSamplesPerChunk)); err != nil {
						b.Fatal(err)
					}
				}
				blk, err := Open(filepath.Join(parent, m.ULID.String()), OpenOptions{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = blk.Close() })
				ix, ch := blockBytes(b, blk.Dir())
				inBytes += ix + ch
				samples += in.samples
				bs = append(bs, blk)
			}
			b.SetBytes(inBytes)
			b.ReportAllocs()
			out := b.TempDir()
			cpu0, cpuOK := processCPUTime()
			for b.Loop() {
				m, err := Compact(out, bs, opts(0))
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := os.RemoveAll(filepath.Join(out, m.ULID.String())); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(samples)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			if cpu1, ok := processCPUTime(); ok && cpuOK {
				b.ReportMetric(float64(samples)*float64(b.N)/(cpu1-cpu0).Seconds(), "samples/cpu-s")
			}
		})
	}
}
