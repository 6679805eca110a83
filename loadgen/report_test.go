package loadgen

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProgress_String(t *testing.T) {
	p := Progress{
		Elapsed: 12*time.Second + 300*time.Millisecond, Samples: 1e6, SamplesPerSec: 253_120,
		Requests: 1234, RequestsPerSec: 102, P50: 1234 * time.Microsecond, P99: 8400 * time.Microsecond,
		Errors: 2, Inbox: 3, InboxOK: true, Lag: 1250 * time.Millisecond, Done: -1,
	}
	require.Equal(t, " 12s  253.1K samples/s  1.2K req (102/s)  p50 1.23ms  p99 8.4ms  errors 2  inbox 3  lag 1.2s", p.String())
	p.InboxOK, p.Done, p.P50, p.P99 = false, 0.4321, 0, 850*time.Microsecond
	require.Equal(t, " 12s  253.1K samples/s  1.2K req (102/s)  p50 -  p99 850µs  errors 2  inbox n/a  lag 1.2s  done 43.2%", p.String())
}

func TestFormatSI(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 950: "950", 12_500: "12.5K", 3_210_000: "3.21M", 4.5e9: "4.50G"} {
		require.Equal(t, want, formatSI(in))
	}
}

func TestHistogram_Quantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	var s histSnapshot
	h.snapshot(&s)
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Millisecond, 0.99: 990 * time.Millisecond, 0.001: time.Millisecond} {
		got := s.quantile(q)
		require.InEpsilon(t, float64(want), float64(got), 0.05, "q=%v: %v", q, got)
	}
	var empty histSnapshot
	require.Zero(t, empty.quantile(0.5))
	require.Equal(t, 0, histBucket(0))
	require.Equal(t, histBuckets-1, histBucket(1000*time.Hour))
	d := s.sub(&s)
	require.Zero(t, d.quantile(0.5))
}

func TestSummary_JSON(t *testing.T) {
	b, err := json.Marshal(Summary{Workload: WorkloadNode, Protocol: ProtocolRW1, Errors: map[string]int64{"5xx": 1}})
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{"samples_per_second", "latency_ms", "cpu_seconds_per_million_samples", "errors", "active_series", "max_lag_seconds"} {
		require.Contains(t, m, k)
	}
	require.Nil(t, m["inbox_depth_max"], "n/a is null")
	require.Equal(t, "rw1", m["protocol"])
}

func TestSumMetric(t *testing.T) {
	body := []byte(`# HELP tsdb_shard_inbox_depth Messages waiting in each shard's inbox.
# TYPE tsdb_shard_inbox_depth gauge
tsdb_shard_inbox_depth{shard="0"} 3
tsdb_shard_inbox_depth{shard="1"} 4
tsdb_shard_inbox_depth_max 9
go_goroutines 12
`)
	v, ok := SumMetric(body, "tsdb_shard_inbox_depth")
	require.True(t, ok)
	require.Equal(t, 7.0, v)
	v, ok = SumMetric(body, "go_goroutines")
	require.True(t, ok)
	require.Equal(t, 12.0, v)
	_, ok = SumMetric(body, "missing")
	require.False(t, ok)
}
