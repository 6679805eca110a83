package perf

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/loadgen"

	"github.com/stretchr/testify/require"
)

// TestVersion_NotGoToolchain: a binary without a module version (the test
// binary) goes through the fallbacks, which must not report the Go
// toolchain's version as the program's.
func TestVersion_NotGoToolchain(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	v := version(exe, "-test.run=^$")
	require.NotContains(t, v, "1.26", "the Go version is not the program's")
}

// TestVictoriaMetricsPeers: every VictoriaMetrics binary of a distinct
// version is its own peer, named by major.minor, oldest first; a second
// copy of a version is measured once; an absent one is a skip with its
// reason.
func TestVictoriaMetricsPeers(t *testing.T) {
	dir := t.TempDir()
	script := func(name, v string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\necho victoria-metrics-20250101-000000-tags-v"+v+"-0-g1\n"), 0o755))
		return p
	}
	newer, older, copyOlder := script("vm-new", "1.151.0"), script("vm-old", "1.79.5"), script("vm-old-copy", "1.79.5")
	missing := filepath.Join(dir, "absent")
	t.Setenv("TSDB_PERF_VICTORIAMETRICS", strings.Join([]string{newer, older, copyOlder, missing}, string(filepath.ListSeparator)))
	ps := victoriaMetricsPeers()
	require.Len(t, ps, 3)
	require.Equal(t, "victoriametrics", ps[0].Name)
	require.Empty(t, ps[0].Bin)
	require.Contains(t, ps[0].Missing, missing)
	require.Equal(t, "victoriametrics-1.79", ps[1].Name)
	require.Equal(t, "VictoriaMetrics 1.79.5", ps[1].Label)
	require.Equal(t, older, ps[1].Bin)
	require.Equal(t, "victoriametrics-1.151", ps[2].Name)
	require.Equal(t, "VictoriaMetrics 1.151.0", ps[2].Label)
	for _, p := range ps {
		require.Equal(t, "victoriametrics", p.Family)
	}
	_, rw2 := ps[1].ingest[loadgen.ProtocolRW2]
	require.False(t, rw2, "1.79 has no remote write 2.0 receiver")
}

func TestCompareSystems(t *testing.T) {
	names := []string{"influxdb", "victoriametrics-1.151", "prometheus", "victoriametrics-1.79", "silverback", "victoriametrics"}
	slices.SortStableFunc(names, compareSystems)
	require.Equal(t, []string{"silverback", "victoriametrics", "victoriametrics-1.79", "victoriametrics-1.151", "prometheus", "influxdb"}, names)
}

// TestWaitIdle: the wait ends only after two consecutive quiet windows
// following the busy ones, and gives up (false) at the limit when the
// server never quiets down.
func TestWaitIdle(t *testing.T) {
	calls, busy := 0, 5
	cpu := func() float64 {
		calls++
		return float64(min(calls, busy)) * 10 // 10 CPU-s per busy window
	}
	_, ok := waitIdle(cpu, 0, time.Millisecond, time.Minute)
	require.True(t, ok)
	require.Equal(t, busy+2, calls, "two quiet windows after the last busy one")

	calls = 0
	always := func() float64 { calls++; return float64(calls) * 10 }
	_, ok = waitIdle(always, 0, time.Millisecond, 20*time.Millisecond)
	require.False(t, ok)
}

func TestSumPrefix(t *testing.T) {
	b := []byte("# HELP vm_rows x\nvm_rows{type=\"storage/big\"} 10\nvm_rows{type=\"storage/small\"} 5.5\nvm_rows{type=\"indexdb\"} 100\nvm_rows_total 7\n")
	v, ok := sumPrefix(b, `vm_rows{type="storage/`)
	require.True(t, ok)
	require.Equal(t, 15.5, v)
	_, ok = sumPrefix(b, "absent")
	require.False(t, ok)
}

func TestAppendOM(t *testing.T) {
	ls := labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", "0", "mode", `i"dle`)
	got := string(appendOM(nil, ls, 1700000000123, 12.5))
	require.Equal(t, `node_cpu_seconds_total{cpu="0",mode="i\"dle"} 12.5 1700000000.123`+"\n", got)
}

// TestBlocks_OnePerDirectory: a block's chunks/ subdirectory is part of
// the block, not a block of its own (it was counted as one: every block
// count was doubled).
func TestBlocks_OnePerDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, b := range []string{"A", "B"} {
		bd := filepath.Join(dir, "shards", "00", "blocks", b)
		require.NoError(t, os.MkdirAll(filepath.Join(bd, "chunks"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(bd, "meta.json"), []byte(`{"stats":{"numSamples":7}}`), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(bd, "chunks", "000001"), make([]byte, 100), 0o644))
	}
	bs, err := blocks(dir)
	require.NoError(t, err)
	require.Len(t, bs, 2)
	for _, b := range bs {
		require.Equal(t, uint64(7), b.samples)
		require.Greater(t, b.bytes, int64(100))
	}
}
