package httpfast

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// pb is a tiny protobuf writer for tests: msg(field, parts...) nests.
type pbPart []byte

func pbMsg(num protowire.Number, parts ...pbPart) pbPart {
	var inner []byte
	for _, p := range parts {
		inner = append(inner, p...)
	}
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, inner)
}

func pbStr(num protowire.Number, s string) pbPart {
	return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
}

func pbFixed64(num protowire.Number, v uint64) pbPart {
	return protowire.AppendFixed64(protowire.AppendTag(nil, num, protowire.Fixed64Type), v)
}

func pbDouble(num protowire.Number, v float64) pbPart { return pbFixed64(num, math.Float64bits(v)) }

func pbVarint(num protowire.Number, v uint64) pbPart {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func pbPacked(num protowire.Number, vs ...uint64) pbPart {
	var inner []byte
	for _, v := range vs {
		inner = protowire.AppendFixed64(inner, v)
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), inner)
}

func otlpKV(num protowire.Number, k, v string) pbPart {
	return pbMsg(num, pbStr(1, k), pbMsg(2, pbStr(1, v)))
}

func otlpRequest(metrics ...pbPart) []byte {
	res := pbMsg(1,
		otlpKV(1, "service.name", "checkout"),
		otlpKV(1, "service.namespace", "shop"),
		otlpKV(1, "service.instance.id", "pod-1"),
		otlpKV(1, "host.name", "node-7"),
	)
	return pbMsg(1, res, pbMsg(2, metrics...))[0:]
}

func TestOTLP_Translation(t *testing.T) {
	ts := newTestServer(t)
	const t0 = uint64(1_700_000_000_000) * 1e6
	body := otlpRequest(
		// A monotonic cumulative sum in seconds → a counter with both suffixes.
		pbMsg(2, pbStr(1, "http.server.duration"), pbStr(3, "s"), pbMsg(7,
			pbMsg(1, otlpKV(7, "http.method", "GET"), pbFixed64(3, t0), pbDouble(4, 1.5)),
			pbVarint(2, 2), pbVarint(3, 1))),
		// A gauge of unit 1 → _ratio; an int value.
		pbMsg(2, pbStr(1, "cpu.utilization"), pbStr(3, "1"), pbMsg(5,
			pbMsg(1, pbFixed64(3, t0), pbFixed64(6, 3)))),
		// A histogram in bytes.
		pbMsg(2, pbStr(1, "rpc.size"), pbStr(3, "By"), pbMsg(9,
			pbMsg(1, pbFixed64(3, t0), pbFixed64(4, 5), pbDouble(5, 500), pbPacked(6, 2, 3), pbPacked(7, math.Float64bits(100))),
			pbVarint(2, 2))),
		// A summary with a data point flagged "no recorded value".
		pbMsg(2, pbStr(1, "latency"), pbMsg(11,
			pbMsg(1, pbFixed64(3, t0), pbFixed64(4, 2), pbDouble(5, 3), pbMsg(6, pbDouble(1, 0.5), pbDouble(2, 1.25)), pbVarint(8, 1)))),
	)
	r := ts.post("/opentelemetry/v1/metrics", body, "Content-Type", "application/x-protobuf")
	require.Equal(t, 200, r.code, r.body)
	got := ts.read()
	const rl = `instance="pod-1", job="shop/checkout"`
	require.Equal(t, []sample{{1_700_000_000_000, 1.5}}, got[`{__name__="http_server_duration_seconds_total", http_method="GET", `+rl+`}`])
	require.Equal(t, []sample{{1_700_000_000_000, 3}}, got[`{__name__="cpu_utilization_ratio", `+rl+`}`])
	require.Equal(t, []sample{{1_700_000_000_000, 2}}, got[`{__name__="rpc_size_bytes_bucket", `+rl+`, le="100"}`])
	require.Equal(t, []sample{{1_700_000_000_000, 5}}, got[`{__name__="rpc_size_bytes_bucket", `+rl+`, le="+Inf"}`])
	require.Equal(t, []sample{{1_700_000_000_000, 500}}, got[`{__name__="rpc_size_bytes_sum", `+rl+`}`])
	require.Equal(t, []sample{{1_700_000_000_000, 5}}, got[`{__name__="rpc_size_bytes_count", `+rl+`}`])
	q := got[`{__name__="latency", `+rl+`, quantile="0.5"}`]
	require.Len(t, q, 1)
	require.Equal(t, uint64(0x7ff0000000000002), math.Float64bits(q[0].V), "no recorded value → stale marker")
	require.Equal(t, []sample{{1_700_000_000_000, 1}}, got[`{__name__="target_info", host_name="node-7", `+rl+`}`])
	md, ok := ts.s.Metadata().Get("http_server_duration_seconds_total")
	require.True(t, ok)
	require.Equal(t, "counter", md.Type)

	// The other path, gzip.
	r = ts.post("/api/v1/otlp/v1/metrics", gzipBytes(t, otlpRequest(pbMsg(2, pbStr(1, "cpu.utilization"), pbStr(3, "1"), pbMsg(5,
		pbMsg(1, pbFixed64(3, t0+15e9), pbDouble(4, 0.5)))))), "Content-Type", "application/x-protobuf", "Content-Encoding", "gzip")
	require.Equal(t, 200, r.code, r.body)
	require.Equal(t, []sample{{1_700_000_000_000, 3}, {1_700_000_015_000, 0.5}}, ts.read()[`{__name__="cpu_utilization_ratio", `+rl+`}`])
}

func TestOTLP_MetricNames(t *testing.T) {
	for _, tc := range []struct {
		name, unit string
		kind       int
		want       string
	}{
		{"http.server.request.duration", "s", otlpHistogram, "http_server_request_duration_seconds"},
		{"requests.count", "1", otlpCounter, "requests_count_total"},
		{"memory.usage", "By", otlpGauge, "memory_usage_bytes"},
		{"net.io", "By/s", otlpGauge, "net_io_bytes_per_second"},
		{"jobs", "{job}", otlpCounter, "jobs_total"},
		{"processed_total", "", otlpCounter, "processed_total"},
		{"2xx.responses", "", otlpGauge, "_2xx_responses"},
		{"disk__io", "ms", otlpGauge, "disk_io_milliseconds"},
	} {
		var toks [][]byte
		require.Equal(t, tc.want, string(otlpMetricName(nil, []byte(tc.name), []byte(tc.unit), tc.kind, &toks)), tc.name)
	}
	require.Equal(t, "key_0abc", string(sanitizeLabel(nil, []byte("0abc"))))
	require.Equal(t, "http_method", string(sanitizeLabel(nil, []byte("http..method"))))
	require.Equal(t, "__meta", string(sanitizeLabel(nil, []byte("__meta"))))
}

func TestOTLP_JSON(t *testing.T) {
	ts := newTestServer(t)
	body := `{"resourceMetrics":[{"resource":{"attributes":[
	    {"key":"service.name","value":{"stringValue":"checkout"}},
	    {"key":"service.instance.id","value":{"stringValue":"pod-1"}},
	    {"key":"host.cores","value":{"intValue":"8"}}]},
	  "scopeMetrics":[{"metrics":[
	    {"name":"http.server.duration","unit":"s","sum":{"aggregationTemporality":2,"isMonotonic":true,
	      "dataPoints":[{"attributes":[{"key":"http.method","value":{"stringValue":"GET"}}],"timeUnixNano":"1700000000000000000","asDouble":1.5}]}},
	    {"name":"queue.size","gauge":{"dataPoints":[{"timeUnixNano":"1700000000000000000","asInt":"7"}]}},
	    {"name":"rpc.size","unit":"By","histogram":{"aggregationTemporality":2,
	      "dataPoints":[{"timeUnixNano":"1700000000000000000","count":"5","sum":500,"bucketCounts":["2","3"],"explicitBounds":[100]}]}},
	    {"name":"latency","summary":{"dataPoints":[{"timeUnixNano":"1700000000000000000","count":"2","sum":3,"quantileValues":[{"quantile":0.5,"value":1.25}]}]}}
	  ]}]}]}`
	r := ts.post("/opentelemetry/v1/metrics", []byte(body), "Content-Type", "application/json")
	require.Equal(t, 200, r.code, r.body)
	got := ts.read()
	const rl = `instance="pod-1", job="checkout"`
	require.Equal(t, []sample{{1_700_000_000_000, 1.5}}, got[`{__name__="http_server_duration_seconds_total", http_method="GET", `+rl+`}`])
	require.Equal(t, []sample{{1_700_000_000_000, 7}}, got[`{__name__="queue_size", `+rl+`}`])
	require.Equal(t, []sample{{1_700_000_000_000, 2}}, got[`{__name__="rpc_size_bytes_bucket", `+rl+`, le="100"}`])
	require.Equal(t, []sample{{1_700_000_000_000, 5}}, got[`{__name__="rpc_size_bytes_count", `+rl+`}`])
	require.Equal(t, []sample{{1_700_000_000_000, 1.25}}, got[`{__name__="latency", `+rl+`, quantile="0.5"}`])
	require.Equal(t, []sample{{1_700_000_000_000, 1}}, got[`{__name__="target_info", host_cores="8", `+rl+`}`])
}
