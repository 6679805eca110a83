package walseg

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// realDataPath is the captured node_exporter scrape series shared by the
// project's benchmarks (see the lead's notes); benchmarks skip without it.
const realDataPath = "../../shared/data/node_exporter_10min.prom"

// realSamples parses realDataPath (lines `name{labels} value ts_ms`) into
// samples in file order, numbering series refs by first appearance.
func realSamples(tb testing.TB) []RefSample {
	tb.Helper()
	f, err := os.Open(realDataPath)
	if os.IsNotExist(err) {
		tb.Skipf("real data %s absent; skipping", realDataPath)
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	refs := map[string]uint32{}
	var out []RefSample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		tsSep := strings.LastIndexByte(line, ' ')
		vSep := strings.LastIndexByte(line[:tsSep], ' ')
		if tsSep < 0 || vSep < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[vSep+1:tsSep], 64)
		if err != nil {
			tb.Fatalf("parse value in %q: %v", line, err)
		}
		ts, err := strconv.ParseInt(line[tsSep+1:], 10, 64)
		if err != nil {
			tb.Fatalf("parse timestamp in %q: %v", line, err)
		}
		key := line[:vSep]
		ref, ok := refs[key]
		if !ok {
			ref = uint32(len(refs))
			refs[key] = ref
		}
		out = append(out, RefSample{Ref: ref, T: ts, V: v})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// loadgenSamples returns scrapes of the node_exporter-like workload
// (fixed seed), flattened in scrape order.
func loadgenSamples(tb testing.TB, hosts, scrapes int) []RefSample {
	tb.Helper()
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: hosts, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	var buf []loadgen.Sample
	out := make([]RefSample, 0, scrapes*g.NumSeries())
	for i := 0; i < scrapes; i++ {
		buf = g.Next(buf[:0])
		for _, s := range buf {
			out = append(out, RefSample{Ref: uint32(s.Series), T: s.T, V: s.V})
		}
	}
	return out
}

// chunkSamples splits s into batches of n (the last may be shorter).
func chunkSamples(s []RefSample, n int) [][]RefSample {
	var out [][]RefSample
	for len(s) > 0 {
		k := min(n, len(s))
		out = append(out, s[:k])
		s = s[k:]
	}
	return out
}
