//go:build unix

package shard

import (
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// BenchmarkShardCreateSeries measures series creation: each op applies a
// message of 1,000 series never seen before (node_exporter-like label sets
// of five labels), one sample each, WAL sync none. cpu-ns/series is the
// process's CPU time per created series. It uses only APIs older than the
// head's label interning, so the same file runs on the commit before it.
// Run with a fixed -benchtime (e.g. 300x): the head grows with b.N.
func BenchmarkShardCreateSeries(b *testing.B) {
	const series = 1000
	s, err := Open(b.TempDir(), 0, Options{Logger: zap.NewNop(), WAL: walseg.Options{Sync: walseg.SyncNone}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.CloseUnstarted() }()
	modes := []string{"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"}
	msgs := make([]*stages.ShardBatch, b.N)
	for k := range msgs {
		m := &stages.ShardBatch{}
		for i := range series {
			n := k*series + i
			ls := labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", fmt.Sprint(n%64),
				"instance", fmt.Sprintf("host-%d:9100", n/512), "job", "node", "mode", modes[n/64%8])
			h, _ := stages.HashLabels(nil, ls)
			m.Series = append(m.Series, stages.ShardSeries{Labels: ls, Hash: h})
			m.Samples = append(m.Samples, stages.Sample{Series: uint32(i), T: 1_780_000_000_000, V: float64(n)})
		}
		msgs[k] = m
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuNanos(b)
	for k := range b.N {
		m := msgs[k]
		m.Result = s.apply(m)
		if m.Result.Err != nil || m.Result.Stats.Appended != series {
			b.Fatalf("%v %+v", m.Result.Err, m.Result.Stats)
		}
		msgs[k] = nil
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNanos(b)-cpu0)/float64(b.N*series), "cpu-ns/series")
}
