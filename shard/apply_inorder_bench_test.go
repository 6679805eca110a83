//go:build unix

package shard

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// BenchmarkShardApplyInOrder is BenchmarkShardApply/order=in-order with
// nothing the shard learnt in issue 12 (no Options.Now, no bounds
// constants), so the same file runs on the commit before it (fb4bc47) for
// the in-order CPU comparison of PERFORMANCE.md: messages of 1,000 series
// × 1 sample, every series one 15 s step later, WAL sync none. cpu-ns/sample
// is the process's user+system CPU time (getrusage) over the timed loop per
// sample, the figure that does not depend on how many other processes share
// the cores (wall time per op does, by several times on a loaded machine).
func BenchmarkShardApplyInOrder(b *testing.B) {
	const series = 1000
	s, err := Open(b.TempDir(), 0, Options{Logger: zap.NewNop(), WAL: walseg.Options{Sync: walseg.SyncNone}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.CloseUnstarted() }()
	m := &stages.ShardBatch{}
	for i := range series {
		ls := labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))
		h, _ := stages.HashLabels(nil, ls)
		m.Series = append(m.Series, stages.ShardSeries{Labels: ls, Hash: h})
	}
	m.Samples = make([]stages.Sample, series)
	send := func(ts int64) {
		for i := range m.Samples {
			m.Samples[i] = stages.Sample{Series: uint32(i), T: ts, V: float64(ts % 1000)}
		}
		m.Result = s.apply(m)
		if m.Result.Err != nil || m.Result.Stats.Appended != series {
			b.Fatalf("%v %+v", m.Result.Err, m.Result.Stats)
		}
	}
	next := int64(1_780_000_000_000) - 3_600_000
	for range 240 { // warm up: series exist and have cut chunks
		send(next)
		next += 15_000
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuNanos(b)
	for range b.N {
		send(next)
		next += 15_000
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNanos(b)-cpu0)/float64(b.N*series), "cpu-ns/sample")
	b.ReportMetric(float64(b.N*series)/b.Elapsed().Seconds(), "samples/s")
}

// cpuNanos returns the process's user+system CPU time in nanoseconds.
func cpuNanos(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
