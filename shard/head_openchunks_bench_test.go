//go:build unix

package shard

import (
	"testing"

	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/loadgen"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// BenchmarkAppendOpen measures the head's per-sample append path alone
// (Shard.appendInOrder: the cut rules, head chunk file writes at cuts, the
// open chunk's block moves and the encoder) over node_exporter-like series
// (20 hosts, 10,140 series; jittered scrapes, the data of BenchmarkAppend
// and BenchmarkHeadMemory), without the WAL, routing or series lookup.
// The scrapes are generated before the timed loop, which runs through them
// (a chunk cycle of ~35 samples repeats ~4 times per 130 scrapes) and then
// continues with later timestamps. cpu-ns/sample is the process's CPU time
// per sample (getrusage), the figure that does not depend on how many
// other processes share the cores.
func BenchmarkAppendOpen(b *testing.B) {
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: 20, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	const scrapes = 130
	var all [][]loadgen.Sample
	for range scrapes {
		all = append(all, g.Next(nil))
	}
	s, err := Open(b.TempDir(), 0, Options{Logger: zap.NewNop(), WAL: walseg.Options{Sync: walseg.SyncNone}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.CloseUnstarted() }()
	refs := make([]*memSeries, g.NumSeries())
	for i := range refs {
		lset := g.Labels(i).WithoutEmpty()
		_, refs[i] = s.head.create(0, hashOf(lset), lset)
	}
	span := int64(scrapes) * 16_000 // ms covered by the scrapes, rounded up
	shift := int64(0)
	run := func(k int) {
		for _, x := range all[k%scrapes] {
			if !s.appendInOrder(refs[x.Series], x.T+shift, x.V) {
				b.Fatal("append failed")
			}
		}
		if k%scrapes == scrapes-1 {
			shift += span
		}
	}
	for k := range scrapes { // warm up: every series has cut chunks
		run(k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuNanos(b)
	for k := range b.N {
		run(k)
	}
	b.StopTimer()
	n := float64(b.N) * float64(g.NumSeries())
	b.ReportMetric(float64(cpuNanos(b)-cpu0)/n, "cpu-ns/sample")
	b.ReportMetric(0, "ns/op")
}
