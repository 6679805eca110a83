package perf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// realCapture is the repository's 2 h node_exporter capture
// (testdata/README.md; when absent the real-capture case is skipped with
// its reason).
const realCapture = "testdata/node_exporter_2h.prom.zst"

// buildTSDB builds cmd/tsdb into a temporary directory.
func buildTSDB(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tsdb")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tsdb")
	build.Dir = ".."
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// TestQuick runs every scenario in quick mode against Silverback alone —
// what CI runs, in seconds, without peers — and checks what the harness
// produces: a value (or a skip with its reason) for every scenario, one
// parseable JSON line per cell, a Markdown table per scenario and valid
// SVG charts. The figures themselves are not checked: they are
// measurements of tiny workloads on a shared machine.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	bin := buildTSDB(t)
	var results, tables, log bytes.Buffer
	charts := t.TempDir()
	o := Options{Scenarios: []string{"all"}, Quick: true, Bin: bin, Peers: []string{},
		Results: &results, Out: &tables, Log: &log, ChartDir: charts, Commit: "test"}
	if _, err := os.Stat(realCapture); err == nil {
		o.Capture = realCapture
	}
	res, err := Run(context.Background(), o)
	require.NoError(t, err, log.String())
	t.Log(log.String())

	seen := map[string]int{}
	for _, r := range res {
		require.Equal(t, "silverback", r.System, "no peers were asked for")
		if r.Skipped == "" {
			seen[r.Scenario]++
			// Tiny workloads: a CPU delta can be 0 ticks, RSS above idle
			// negative (the heap shrank); only nonsense is an error.
			require.False(t, math.IsNaN(r.Value) || math.IsInf(r.Value, 0), "%+v", r)
			if r.Better == "higher" {
				require.Greater(t, r.Value, 0.0, "a rate: %+v", r)
			}
		}
	}
	for _, sc := range Scenarios {
		if sc == "query" {
			continue // a value only once the PromQL API is in the binary
		}
		require.Positive(t, seen[sc], "scenario %s measured nothing: %s", sc, log.String())
	}
	queryCells := 0
	for _, r := range res {
		if r.Scenario == "query" {
			queryCells++
			if r.Skipped != "" {
				require.NotEmpty(t, strings.TrimSpace(r.Skipped))
			}
		}
	}
	require.Positive(t, queryCells)

	sc := bufio.NewScanner(&results)
	lines := 0
	for sc.Scan() {
		var r Result
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		require.Equal(t, "test", r.Commit)
		require.True(t, r.Quick)
		lines++
	}
	require.Equal(t, len(res), lines)
	for _, s := range Scenarios {
		require.Contains(t, tables.String(), "### "+s+"\n")
	}
	svgs, err := filepath.Glob(filepath.Join(charts, "*.svg"))
	require.NoError(t, err)
	require.NotEmpty(t, svgs)
	for _, f := range svgs {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.Contains(t, string(b), "<svg", f)
		require.Contains(t, string(b), "</svg>", f)
	}
}

// TestRun_AbsentPeer: a peer asked for but not installed is skipped with
// the reason in every one of its cells; the run does not fail.
func TestRun_AbsentPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	t.Setenv("TSDB_PERF_VICTORIAMETRICS", filepath.Join(t.TempDir(), "no-such-victoria-metrics"))
	bin := buildTSDB(t)
	res, err := Run(context.Background(), Options{Scenarios: []string{"restart"}, Quick: true, Bin: bin,
		Peers: []string{"victoriametrics"}})
	require.NoError(t, err)
	vm := 0
	for _, r := range res {
		if r.System == "victoriametrics" {
			vm++
			require.Contains(t, r.Skipped, "TSDB_PERF_VICTORIAMETRICS", "%+v", r)
		}
	}
	require.Positive(t, vm)
}

func TestRun_BadOptions(t *testing.T) {
	_, err := Run(context.Background(), Options{Scenarios: []string{"ingest"}})
	require.ErrorContains(t, err, "no tsdb binary")
	_, err = Run(context.Background(), Options{Scenarios: []string{"speed"}, Bin: "x"})
	require.ErrorContains(t, err, `unknown scenario "speed"`)
	_, err = Run(context.Background(), Options{Scenarios: []string{"ingest"}, Bin: "x", Peers: []string{"mysql"}})
	require.ErrorContains(t, err, `unknown peer "mysql"`)
	_, err = Run(context.Background(), Options{Bin: "x"})
	require.ErrorContains(t, err, "no scenario")
	_, err = Run(context.Background(), Options{Scenarios: []string{"compression"}, Bin: "x", CompressionData: []string{"week"}})
	require.ErrorContains(t, err, `unknown compression data set "week"`)
}

// TestTables: medians per system over runs, ranges, the ratio of the
// medians, and skipped cells with their reason.
func TestTables(t *testing.T) {
	var rs []Result
	add := func(sys string, v float64) {
		rs = append(rs, Result{Scenario: "ingest", Case: "influx", Metric: "cpu", Unit: "CPU-s", Better: "lower", System: sys, Label: sys + " 1", Value: v})
	}
	add("victoriametrics", 0.4)
	add("silverback", 0.9)
	add("victoriametrics", 0.5)
	add("silverback", 0.8)
	add("silverback", 1.0)
	add("victoriametrics", 0.6)
	rs = append(rs, Result{Scenario: "ingest", Case: "influx", Metric: "cpu", System: "prometheus", Label: "Prometheus", Skipped: "no line | protocol"})
	ts := Tables(rs)
	require.Len(t, ts, 1)
	tb := ts[0]
	require.Equal(t, []string{"silverback", "victoriametrics", "prometheus"}, tb.Systems, "fixed order")
	c := tb.Cells[cellKey{"influx", "cpu"}]
	require.Equal(t, 0.9, c["silverback"].Median)
	require.Equal(t, 0.8, c["silverback"].Lo)
	require.Equal(t, 1.0, c["silverback"].Hi)
	require.Equal(t, 3, c["silverback"].N)
	require.InDelta(t, 0.5, c["victoriametrics"].Median, 1e-12)
	var b bytes.Buffer
	tb.Markdown(&b)
	md := b.String()
	require.Contains(t, md, "| case | metric | silverback 1 | victoriametrics 1 | Prometheus | ratio vs victoriametrics 1 | ratio vs Prometheus |")
	require.Contains(t, md, "**0.9** (0.8–1, 3 runs)")
	require.Contains(t, md, "| 1.80 |", "0.9 / 0.5")
	require.Contains(t, md, "skipped: no line / protocol", "a | would break the table")
}

func TestMedianQuantile(t *testing.T) {
	require.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	require.Equal(t, 3.0, median([]float64{5, 1, 3}))
	xs := make([]float64, 20)
	for i := range xs {
		xs[i] = float64(i + 1)
	}
	require.Equal(t, 20.0, quantile(xs, 0.99))
	require.Equal(t, 10.0, quantile(xs, 0.5))
}

// TestReadResults_Report: a results file read back gives the same tables
// as the run that wrote it; a bad line is an error naming it.
func TestReadResults_Report(t *testing.T) {
	var file bytes.Buffer
	rec := &recorder{w: &file}
	for i, v := range []float64{1, 3, 2} {
		rec.add(Result{Scenario: "restart", Case: "WAL", Metric: "ready", Unit: "s", System: "silverback", Run: i, Value: v})
		rec.add(Result{Scenario: "restart", Case: "WAL", Metric: "ready", Unit: "s", System: "prometheus", Run: i, Value: 10 * v})
	}
	rec.add(Result{Scenario: "ingest", Case: "x", Metric: "y", System: "silverback", Value: 1})
	rs, err := ReadResults(bytes.NewReader(file.Bytes()))
	require.NoError(t, err)
	require.Equal(t, rec.results(), rs)
	var md bytes.Buffer
	charts := t.TempDir()
	files, err := Report(rs, []string{"restart"}, &md, charts)
	require.NoError(t, err)
	require.Len(t, files, 1)
	require.NotContains(t, md.String(), "### ingest")
	require.Contains(t, md.String(), "| WAL | ready (s) | **2** (1–3, 3 runs) | **20** (10–30, 3 runs) | 0.10 |")

	_, err = ReadResults(strings.NewReader("{\"scenario\":\"a\"}\n{oops\n"))
	require.ErrorContains(t, err, "line 2")
}
