package httpfast

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// apiFixture is the data every API test server holds: text exposition with
// ms timestamps.
const apiFixture = `# TYPE up gauge
# HELP up Whether the target is up.
up{instance="x:9100",job="node"} 1 1700000000000
up{instance="y:9100",job="node"} 0 1700000000000
up{instance="x:9100",job="node"} 1 1700000015000
up{instance="y:9100",job="node"} 1 1700000015000
# TYPE http_requests_total counter
http_requests_total{code="200",job="api"} 10 1700000000000
http_requests_total{code="500",job="api"} 2 1700000000000
http_requests_total{code="200",job="api"} 25 1700000015000
weird_value{kind="nan"} NaN 1700000000000
weird_value{kind="inf"} +Inf 1700000000000
weird_value{kind="small"} 1e-7 1700000000000
weird_value{kind="quote\"<&>"} 0.1 1700000000500
`

// newAPITestServer is a test server with apiFixture stored and the query
// API backed by its database.
func newAPITestServer(t testing.TB, opts ...serverOpt) *testServer {
	t.Helper()
	ts := newTestServer(t, opts...)
	r := ts.post("/api/v1/import/prometheus", []byte(apiFixture))
	require.Equal(t, 204, r.code, r.body)
	ts.s.SetQueryBackend(&QueryBackend{DB: ts.db, Status: StatusInfo{Flags: map[string]string{"listen": ":8080"}}})
	return ts
}

func (ts *testServer) get(path string, params ...string) resp {
	ts.t.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Add(params[i], params[i+1])
	}
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	return ts.do("GET", path, nil)
}

func (ts *testServer) postForm(path string, params ...string) resp {
	ts.t.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Add(params[i], params[i+1])
	}
	return ts.do("POST", path, []byte(v.Encode()), "Content-Type", "application/x-www-form-urlencoded")
}

// TestAPI_Golden checks each endpoint's exact JSON against what Prometheus
// 3.16 answers for the same data (shapes, key order, float and timestamp
// formatting, error envelopes and statuses).
func TestAPI_Golden(t *testing.T) {
	ts := newAPITestServer(t)
	cases := []struct {
		name   string
		path   string
		params []string
		code   int
		want   string // exact body
	}{
		{name: "series/one set", path: "/api/v1/series", params: []string{"match[]", "up"}, code: 200,
			want: `{"status":"success","data":[{"__name__":"up","instance":"x:9100","job":"node"},{"__name__":"up","instance":"y:9100","job":"node"}]}`},
		{name: "series/two sets dedup", path: "/api/v1/series", params: []string{"match[]", `up{instance="x:9100"}`, "match[]", `{job="node"}`}, code: 200,
			want: `{"status":"success","data":[{"__name__":"up","instance":"x:9100","job":"node"},{"__name__":"up","instance":"y:9100","job":"node"}]}`},
		{name: "series/limit", path: "/api/v1/series", params: []string{"match[]", "up", "limit", "1"}, code: 200,
			want: `{"status":"success","data":[{"__name__":"up","instance":"x:9100","job":"node"}],"warnings":["results truncated due to limit"]}`},
		{name: "series/escaped", path: "/api/v1/series", params: []string{"match[]", `weird_value{kind=~"quote.*"}`}, code: 200,
			want: `{"status":"success","data":[{"__name__":"weird_value","kind":"quote\"\u003c\u0026\u003e"}]}`},
		{name: "series/none", path: "/api/v1/series", params: []string{"match[]", "nothing"}, code: 200,
			want: `{"status":"success","data":[]}`},
		{name: "series/out of range", path: "/api/v1/series", params: []string{"match[]", "up", "end", "1600000000"}, code: 200,
			want: `{"status":"success","data":[]}`},
		{name: "series/no match", path: "/api/v1/series", code: 400,
			want: `{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}`},
		{name: "series/empty matcher", path: "/api/v1/series", params: []string{"match[]", `{job=~".*"}`}, code: 400,
			want: `{"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": match[] must contain at least one non-empty matcher"}`},
		{name: "series/bad start", path: "/api/v1/series", params: []string{"match[]", "up", "start", "yesterday"}, code: 400,
			want: `{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": invalid time value for 'start': cannot parse \"yesterday\" to a valid timestamp"}`},
		{name: "series/bad limit", path: "/api/v1/series", params: []string{"match[]", "up", "limit", "-1"}, code: 400,
			want: `{"status":"error","errorType":"bad_data","error":"invalid parameter \"limit\": limit must be non-negative"}`},
		{name: "labels/all", path: "/api/v1/labels", code: 200,
			want: `{"status":"success","data":["__name__","code","instance","job","kind"]}`},
		{name: "labels/match", path: "/api/v1/labels", params: []string{"match[]", "up"}, code: 200,
			want: `{"status":"success","data":["__name__","instance","job"]}`},
		{name: "labels/limit", path: "/api/v1/labels", params: []string{"limit", "2"}, code: 200,
			want: `{"status":"success","data":["__name__","code"],"warnings":["results truncated due to limit"]}`},
		{name: "labels/bad match", path: "/api/v1/labels", params: []string{"match[]", "up{"}, code: 400},
		{name: "values/job", path: "/api/v1/label/job/values", code: 200,
			want: `{"status":"success","data":["api","node"]}`},
		{name: "values/__name__ match", path: "/api/v1/label/__name__/values", params: []string{"match[]", `{job="api"}`}, code: 200,
			want: `{"status":"success","data":["http_requests_total"]}`},
		{name: "values/U__ escaped", path: "/api/v1/label/U__job/values", code: 200,
			want: `{"status":"success","data":["api","node"]}`},
		{name: "values/unknown", path: "/api/v1/label/nope/values", code: 200,
			want: `{"status":"success","data":[]}`},
		{name: "metadata", path: "/api/v1/metadata", params: []string{"metric", "up"}, code: 200,
			want: `{"status":"success","data":{"up":[{"type":"gauge","unit":"","help":"Whether the target is up."}]}}`},
		{name: "metadata/bad limit", path: "/api/v1/metadata", params: []string{"limit", "x"}, code: 400,
			want: `{"status":"error","errorType":"bad_data","error":"limit must be a number"}`},
		{name: "flags", path: "/api/v1/status/flags", code: 200,
			want: `{"status":"success","data":{"listen":":8080"}}`},
		{name: "walreplay", path: "/api/v1/status/walreplay", code: 200,
			want: `{"status":"success","data":{"min":0,"max":0,"current":0}}`},
		{name: "targets", path: "/api/v1/targets", code: 200,
			want: `{"status":"success","data":{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":{}}}`},
		{name: "rules", path: "/api/v1/rules", code: 200, want: `{"status":"success","data":{"groups":[]}}`},
		{name: "alerts", path: "/api/v1/alerts", code: 200, want: `{"status":"success","data":{"alerts":[]}}`},
		{name: "exemplars", path: "/api/v1/query_exemplars", params: []string{"query", "up"}, code: 200, want: `{"status":"success","data":[]}`},
		{name: "format_query", path: "/api/v1/format_query", params: []string{"query", "sum(rate(x[5m]))by(job)"}, code: 200,
			want: `{"status":"success","data":"sum by (job) (rate(x[5m]))"}`},
		{name: "parse_query", path: "/api/v1/parse_query", params: []string{"query", `sum by (job) (rate(x{a="b"}[5m] offset 1m)) > bool 2`}, code: 200,
			want: `{"status":"success","data":{"bool":true,"lhs":{"expr":{"args":[{"anchored":false,"matchers":[{"name":"a","type":"=","value":"b"},{"name":"__name__","type":"=","value":"x"}],"name":"x","offset":60000,"offsetExpr":null,"range":300000,"rangeExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"matrixSelector"}],"func":{"argTypes":["matrix"],"name":"rate","returnType":"vector","variadic":0},"type":"call"},"grouping":["job"],"op":"sum","param":null,"type":"aggregation","without":false},"matching":null,"op":"\u003e","rhs":{"type":"numberLiteral","val":"2"},"type":"binaryExpr"}}`},
		{name: "parse_query/matching", path: "/api/v1/parse_query", params: []string{"query", `a - on(job) group_left(x) b`}, code: 200,
			want: `{"status":"success","data":{"bool":false,"lhs":{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"a"}],"name":"a","offset":0,"offsetExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"},"matching":{"card":"many-to-one","fillValues":{"lhs":null,"rhs":null},"include":["x"],"labels":["job"],"on":true},"op":"-","rhs":{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"b"}],"name":"b","offset":0,"offsetExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"},"type":"binaryExpr"}}`},
		{name: "parse_query/bad", path: "/api/v1/parse_query", params: []string{"query", "sum("}, code: 400},
		{name: "format_query/bad", path: "/api/v1/format_query", params: []string{"query", "sum("}, code: 400},
		{name: "tsdb status/bad limit", path: "/api/v1/status/tsdb", params: []string{"limit", "0"}, code: 400,
			want: `{"status":"error","errorType":"bad_data","error":"limit must be a positive number"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, method := range []string{"GET", "POST"} {
				var r resp
				if method == "GET" {
					r = ts.get(c.path, c.params...)
				} else {
					if strings.HasPrefix(c.path, "/api/v1/label/") || strings.HasPrefix(c.path, "/api/v1/status") ||
						c.path == "/api/v1/metadata" || c.path == "/api/v1/targets" || c.path == "/api/v1/rules" || c.path == "/api/v1/alerts" {
						continue // GET only, as in Prometheus
					}
					r = ts.postForm(c.path, c.params...)
				}
				require.Equal(t, c.code, r.code, "%s: %s", method, r.body)
				require.Equal(t, "application/json", r.headers["Content-Type"])
				if c.want != "" {
					require.Equal(t, c.want, r.body, method)
				}
				var env map[string]any
				require.NoError(t, json.Unmarshal([]byte(r.body), &env), r.body)
				if c.code != 200 {
					require.Equal(t, "error", env["status"])
					require.Equal(t, "bad_data", env["errorType"])
				}
			}
		})
	}
}

func TestAPI_TSDBStatus(t *testing.T) {
	ts := newAPITestServer(t)
	r := ts.get("/api/v1/status/tsdb", "limit", "2")
	require.Equal(t, 200, r.code, r.body)
	var env struct {
		Data struct {
			HeadStats struct {
				NumSeries, NumLabelPairs, ChunkCount, MinTime, MaxTime int64
			}
			SeriesCountByMetricName     []tsdbStat
			LabelValueCountByLabelName  []tsdbStat
			MemoryInBytesByLabelName    []tsdbStat
			SeriesCountByLabelValuePair []tsdbStat
			Shards                      []tsdbShardStats
		}
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &env))
	d := env.Data
	require.EqualValues(t, 8, d.HeadStats.NumSeries)
	require.EqualValues(t, 1700000000000, d.HeadStats.MinTime)
	require.EqualValues(t, 1700000015000, d.HeadStats.MaxTime)
	// pairs: __name__ x3, instance x2, job x2, code x2, kind x4.
	require.EqualValues(t, 13, d.HeadStats.NumLabelPairs)
	require.Equal(t, []tsdbStat{{"weird_value", 4}, {"http_requests_total", 2}}, d.SeriesCountByMetricName)
	require.Equal(t, []tsdbStat{{"kind", 4}, {"__name__", 3}}, d.LabelValueCountByLabelName)
	require.Equal(t, []tsdbStat{{"__name__=weird_value", 4}, {"__name__=http_requests_total", 2}}, d.SeriesCountByLabelValuePair)
	require.Len(t, d.MemoryInBytesByLabelName, 2)
	require.Len(t, d.Shards, 2)
	require.EqualValues(t, 8, d.Shards[0].NumSeries+d.Shards[1].NumSeries)
	for _, k := range []string{`"headStats":{"numSeries":8,"numLabelPairs":13,"chunkCount":`, `"seriesCountByMetricName":[{"name":"weird_value","value":4}`} {
		require.Contains(t, r.body, k)
	}
}

func TestAPI_NotReady(t *testing.T) {
	ts := newTestServer(t)
	r := ts.get("/api/v1/labels")
	require.Equal(t, 503, r.code)
	require.Contains(t, r.body, `"errorType":"unavailable"`)
}

func TestAPI_MethodNotAllowed(t *testing.T) {
	ts := newAPITestServer(t)
	r := ts.do("DELETE", "/api/v1/series", nil)
	require.Equal(t, 405, r.code)
	r = ts.get("/api/v1/label/a/b/values")
	require.Equal(t, 404, r.code)
	// CORS preflight on any API path, as Prometheus answers it.
	r = ts.do("OPTIONS", "/api/v1/whatever", nil, "Origin", "http://grafana:3000")
	require.Equal(t, 204, r.code)
	require.Equal(t, "*", r.headers["Access-Control-Allow-Origin"])
	r = ts.do("GET", "/api/v1/labels", nil, "Origin", "http://grafana:3000")
	require.Equal(t, 200, r.code)
	require.Equal(t, "GET, POST, OPTIONS", r.headers["Access-Control-Allow-Methods"])
	r = ts.do("OPTIONS", "/write", nil)
	require.Equal(t, 405, r.code, "not an API path")
}

func TestAppendFloat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {0.1, "0.1"}, {1e-7, "1e-07"}, {1e21, "1e+21"}, {123456789012, "123456789012"},
		{-2.5, "-2.5"}, {1.0000000000000002, "1.0000000000000002"},
	} {
		require.Equal(t, c.want, string(appendFloat(nil, c.v)))
	}
	for _, c := range []struct {
		t    int64
		want string
	}{{1700000000000, "1700000000"}, {1700000000500, "1700000000.500"}, {1050, "1.050"}, {1001, "1.001"}, {-1500, "-1.500"}} {
		require.Equal(t, c.want, string(appendTimestamp(nil, c.t)))
	}
}

// TestAPI_StatusShapes checks the keys of the status answers Prometheus's
// clients read (client_golang's v1 API decodes them by these names).
func TestAPI_StatusShapes(t *testing.T) {
	ts := newAPITestServer(t)
	for path, keys := range map[string][]string{
		"/api/v1/status/buildinfo":   {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"},
		"/api/v1/status/runtimeinfo": {"startTime", "CWD", "hostname", "serverTime", "reloadConfigSuccess", "lastConfigTime", "corruptionCount", "goroutineCount", "GOMAXPROCS", "GOMEMLIMIT", "GOGC", "GODEBUG", "storageRetention"},
		"/api/v1/status/config":      {"yaml"},
	} {
		r := ts.get(path)
		require.Equal(t, 200, r.code, path)
		var env struct {
			Status string
			Data   map[string]any
		}
		require.NoError(t, json.Unmarshal([]byte(r.body), &env), path)
		require.Equal(t, "success", env.Status)
		got := make([]string, 0, len(env.Data))
		for k := range env.Data {
			got = append(got, k)
		}
		require.ElementsMatch(t, keys, got, path)
	}
}
