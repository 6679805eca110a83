package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// loadgenArgs runs `tsdb loadgen ARGS` in-process and returns stdout and
// stderr.
func loadgenArgs(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs(append([]string{"--log-level", "warn", "loadgen"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestLoadgen_NullBackfill(t *testing.T) {
	sumFile := filepath.Join(t.TempDir(), "summary.json")
	out, errOut, err := loadgenArgs(t, "--workload=backfill", "--range=10m", "--hosts=3", "--addr=null:",
		"--start=2026-01-01T00:00:00Z", "--summary-file="+sumFile, "--protocol=rw2")
	require.NoError(t, err, errOut)
	require.Contains(t, errOut, "workload backfill, protocol rw2, target null:")
	var sum map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &sum))
	require.Equal(t, "backfill", sum["workload"])
	require.Equal(t, "null:", sum["target"])
	require.Equal(t, float64(3*507), sum["active_series"])
	// 10 minutes of 15 s scrapes: 40 per host (39 or 40 with the phase).
	require.InDelta(t, 3*507*40, sum["samples"], 3*507)
	b, err := os.ReadFile(sumFile)
	require.NoError(t, err)
	require.Equal(t, out, string(b))
}

func TestLoadgen_InProcess(t *testing.T) {
	dir := t.TempDir()
	out, errOut, err := loadgenArgs(t, "--workload=backfill", "--range=5m", "--hosts=2", "--protocol=inprocess",
		"--data-dir="+dir, "--start=2026-01-01T00:00:00Z", "--quiet")
	require.NoError(t, err, errOut)
	require.Empty(t, errOut)
	var sum struct {
		Samples        int64   `json:"samples"`
		RequestsFailed int64   `json:"requests_failed"`
		CPUPerMillion  float64 `json:"cpu_seconds_per_million_samples"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &sum))
	require.Positive(t, sum.Samples)
	require.Zero(t, sum.RequestsFailed)
	got := readAll(t, dir)
	n := 0
	for _, ss := range got {
		n += len(ss)
	}
	require.Equal(t, sum.Samples, int64(n))
}

func TestLoadgen_FlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--workload=nope"}, "--workload"},
		{[]string{"--protocol=nope"}, "--protocol"},
		{[]string{"--interval=fast"}, "--interval"},
		{[]string{"--interval=0"}, "--interval"},
		{[]string{"--rate=lots"}, "--rate"},
		{[]string{"--start=yesterday"}, "--start"},
		{[]string{"--hosts=-1"}, "--hosts"},
		{[]string{"--concurrency=0"}, "--concurrency"},
		{[]string{"--batch=0"}, "--batch"},
		{[]string{"--flush-interval=0"}, "--flush-interval"},
		{[]string{"--workload=replay"}, "--capture"},
		{[]string{"--capture=x.prom"}, "--capture"},
		{[]string{"--workload=replay", "--capture=/nonexistent.prom"}, "--capture"},
		{[]string{"--data-dir=/tmp/x"}, "--data-dir"},
		{[]string{"--addr=localhost:8080"}, "--addr"},
		{[]string{"--duration=forever"}, "--duration"},
		{[]string{"--header=nocolon"}, "--header"},
		{[]string{"--retries=-1"}, "--retries"},
		{[]string{"--retry-backoff=0"}, "--retry-backoff"},
		{[]string{"--gzip", "--protocol=rw1"}, "--gzip"},
	} {
		_, _, err := loadgenArgs(t, tc.args...)
		require.ErrorIs(t, err, errFlag, "%v", tc.args)
		require.ErrorContains(t, err, tc.flag, "%v", tc.args)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"unlimited": 0, "0": 0, "500000": 5e5, "500K": 5e5, "1.5M": 1.5e6} {
		got, err := parseRate(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"-1", "fast", "NaN"} {
		_, err := parseRate(in)
		require.Error(t, err, in)
	}
}

func TestParseStart(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]int64{
		"":                     0,
		"now":                  now.UnixMilli(),
		"now-1h":               now.Add(-time.Hour).UnixMilli(),
		"2026-01-01T00:00:00Z": 1767225600000,
		"1767225600":           1767225600000,
	} {
		got, err := parseStart(in, now)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := parseStart("now-soon", now)
	require.Error(t, err)
}

// TestLoadgen_Replay replays the shared capture into a null target.
func TestLoadgen_Replay(t *testing.T) {
	if _, err := os.Stat(realDataPath); err != nil {
		t.Skipf("real data absent: %s", realDataPath)
	}
	out, errOut, err := loadgenArgs(t, "--workload=replay", "--capture="+realDataPath, "--addr=null:",
		"--hosts=2", "--duration=1s", "--start=now-1h", "--quiet")
	require.NoError(t, err, errOut)
	require.Contains(t, out, `"series_per_host": 507`)
}
