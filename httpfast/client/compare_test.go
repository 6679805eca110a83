package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/client"
)

// prometheus3 finds a Prometheus 3 binary: $TSDB_PROMETHEUS3, or the one
// `go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0`
// leaves in GOPATH/bin (its build info names module version v0.3xx).
func prometheus3() string {
	if p := os.Getenv("TSDB_PROMETHEUS3"); p != "" {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "prometheus")
	if out, err := exec.Command("go", "version", "-m", p).Output(); err == nil && strings.Contains(string(out), "github.com/prometheus/prometheus\tv0.3") {
		return p
	}
	return ""
}

// startPrometheus runs prom with the remote-write receiver and returns
// its base URL once ready.
func startPrometheus(t *testing.T, prom string, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1h\n"), 0o644))
	listen := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + listen, "--web.enable-remote-write-receiver"}, flags...)
	cmd := exec.CommandContext(ctx, prom, args...)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("prometheus log (tail):\n%s", b[max(0, len(b)-4000):])
		}
	})
	base := "http://" + listen
	hc := &http.Client{Timeout: 5 * time.Second}
	for range 200 {
		if resp, err := hc.Get(base + "/-/ready"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("prometheus did not become ready")
	return ""
}

// loadBoth imports the capture into us and remote-writes the same samples
// (read back from our export) into Prometheus.
func loadBoth(t *testing.T, ours *client.Client, prom string) {
	t.Helper()
	raw, err := os.ReadFile("/work/shared/data/node_exporter_10min.prom")
	if err != nil {
		t.Skipf("capture not available: %v", err)
	}
	loadBothRaw(t, ours, prom, raw)
}

// loadBothRaw is loadBoth for a capture in the same text format.
func loadBothRaw(t *testing.T, ours *client.Client, prom string, raw []byte) {
	t.Helper()
	ctx := context.Background()
	_, err := ours.Import(ctx, client.FormatProm, bytes.NewReader(raw), client.ImportOptions{})
	require.NoError(t, err)
	var jl bytes.Buffer
	_, err = ours.Export(ctx, &jl, client.ExportJSONLines, []string{`{__name__=~".+"}`}, client.Range{})
	require.NoError(t, err)
	pc := newClient(t, prom, client.Options{})
	var batch []client.Series
	sc := bufio.NewScanner(&jl)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var line struct {
			Metric     map[string]string `json:"metric"`
			Values     []any             `json:"values"`
			Timestamps []int64           `json:"timestamps"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line))
		s := client.Series{Labels: line.Metric}
		for i, v := range line.Values {
			var f float64
			switch v := v.(type) {
			case float64:
				f = v
			case string:
				f, _ = strconv.ParseFloat(v, 64)
			}
			s.Samples = append(s.Samples, client.Sample{T: line.Timestamps[i], V: f})
		}
		batch = append(batch, s)
		if len(batch) == 100 {
			require.NoError(t, pc.WriteSeries(ctx, batch))
			batch = batch[:0]
		}
	}
	require.NoError(t, sc.Err())
	require.NoError(t, pc.WriteSeries(ctx, batch))
}

type answer struct {
	code int
	env  map[string]any
	raw  string
}

func ask(t *testing.T, base, method, path string, params url.Values) answer {
	t.Helper()
	var req *http.Request
	var err error
	if method == "GET" {
		u := base + path
		if len(params) > 0 {
			u += "?" + params.Encode()
		}
		req, err = http.NewRequest("GET", u, nil)
	} else {
		req, err = http.NewRequest(method, base+path, strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{code: resp.StatusCode, raw: string(b)}
	_ = json.Unmarshal(b, &a.env)
	return a
}

// compareCase is one request sent to both servers. data says how much of
// the success data must match: "all", "shape" (same JSON types and keys,
// not values), "stats" (shape, less Prometheus's seriesTouched), "tsdb"
// (status/tsdb less our shards and the uncounted chunkCount), "engine"
// (all; a difference is PromQL coverage, counted apart) or "none".
type compareCase struct {
	method, path string
	params       []string
	data         string
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// sameShape reports whether a and b have the same JSON types, and objects
// the same keys (arrays: their first elements' shapes).
func sameShape(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, x := range av {
			y, ok := bv[k]
			if !ok || !sameShape(x, y) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok {
			return false
		}
		if len(av) == 0 || len(bv) == 0 {
			return true
		}
		return sameShape(av[0], bv[0])
	default:
		return reflect.TypeOf(a) == reflect.TypeOf(b)
	}
}

// TestPrometheus3_CompareAPI sends the same requests, valid and malformed,
// to Prometheus 3.16 and to us, both holding the real capture, and compares
// status, envelope (status, errorType, warnings present), result type and
// data case by case.
func TestPrometheus3_CompareAPI(t *testing.T) {
	prom := prometheus3()
	if prom == "" {
		t.Skip("Prometheus 3 is not installed (go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0, or set TSDB_PROMETHEUS3)")
	}
	ts := newTestServer(t, httpfast.Options{})
	pbase := startPrometheus(t, prom)
	loadBoth(t, newClient(t, ts.addr, client.Options{}), pbase)

	const t0, t1 = "1795475719.404", "1795476319"
	sel := `node_cpu_seconds_total{mode="idle"}`
	cases := []compareCase{
		// Instant queries.
		{"GET", "/api/v1/query", []string{"query", sel, "time", t1}, "all"},
		{"POST", "/api/v1/query", []string{"query", sel, "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", t0}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines offset 1m", "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines @ 1795475800", "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "node_load1[1m]", "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "42", "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "-1.5e-7", "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", `"hello"`, "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "NaN", "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "Inf", "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "nothing_here", "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", "2026-11-24T16:05:19.404Z"}, "all"},
		{"GET", "/api/v1/query", []string{"query", sel, "time", t1, "limit", "3"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", t1, "lookback_delta", "1s"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", t1, "stats", "true"}, "stats"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", t1, "timeout", "10s"}, "all"},
		// Malformed instant queries.
		{"GET", "/api/v1/query", nil, "all"},
		{"GET", "/api/v1/query", []string{"query", "up{"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "sum("}, "all"},
		{"GET", "/api/v1/query", []string{"query", "up", "time", "yesterday"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "up", "timeout", "abc"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "up", "timeout", "-5s"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "up", "limit", "x"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "up", "limit", "-1"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "up", "lookback_delta", "zz"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "up", "stats", "maybe"}, "stats"},
		{"GET", "/api/v1/query", []string{"query", `{job=~".*"}`}, "all"},
		{"GET", "/api/v1/query", []string{"query", "foo[5m][1m]"}, "all"},
		// Range queries.
		{"GET", "/api/v1/query_range", []string{"query", sel, "start", t0, "end", t1, "step", "60"}, "all"},
		{"POST", "/api/v1/query_range", []string{"query", "go_goroutines", "start", t0, "end", t1, "step", "15s"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines", "start", t0, "end", t1, "step", "0.5m"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "7", "start", t0, "end", t1, "step", "120"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines", "start", t0, "end", t0, "step", "1"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", sel, "start", t0, "end", t1, "step", "60", "limit", "1"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines", "start", "2026-11-24T16:05:19Z", "end", "2026-11-24T16:15:19Z", "step", "1m"}, "all"},
		// Malformed range queries.
		{"GET", "/api/v1/query_range", []string{"query", "up", "end", t1, "step", "60"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "up", "start", t0, "step", "60"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "up", "start", t0, "end", t1}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "up", "start", t1, "end", t0, "step", "60"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "up", "start", t0, "end", t1, "step", "0"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "up", "start", t0, "end", t1, "step", "-1"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "up", "start", t0, "end", t1, "step", "x"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "up", "start", "0", "end", "11001", "step", "1"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "up", "start", "0", "end", "11000", "step", "1"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "up", "start", "x", "end", t1, "step", "1"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "up[5m]", "start", t0, "end", t1, "step", "60"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", `"s"`, "start", t0, "end", t1, "step", "60"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "up{", "start", t0, "end", t1, "step", "60"}, "all"},
		// Series.
		{"GET", "/api/v1/series", []string{"match[]", sel}, "all"},
		{"POST", "/api/v1/series", []string{"match[]", sel, "match[]", "go_goroutines"}, "all"},
		{"GET", "/api/v1/series", []string{"match[]", "go_goroutines", "start", t0, "end", t1}, "all"},
		{"GET", "/api/v1/series", []string{"match[]", "go_goroutines", "end", "1700000000"}, "all"},
		{"GET", "/api/v1/series", []string{"match[]", `{__name__=~"node_cpu.*"}`, "limit", "2"}, "all"},
		{"GET", "/api/v1/series", []string{"match[]", "nothing"}, "all"},
		{"GET", "/api/v1/series", nil, "all"},
		{"GET", "/api/v1/series", []string{"match[]", "up{"}, "all"},
		{"GET", "/api/v1/series", []string{"match[]", `{job=~".*"}`}, "all"},
		{"GET", "/api/v1/series", []string{"match[]", "up", "start", "x"}, "all"},
		{"GET", "/api/v1/series", []string{"match[]", "up", "limit", "-3"}, "all"},
		// Labels and values.
		{"GET", "/api/v1/labels", nil, "all"},
		{"POST", "/api/v1/labels", []string{"match[]", sel}, "all"},
		{"GET", "/api/v1/labels", []string{"match[]", "go_goroutines", "match[]", "node_load1"}, "all"},
		{"GET", "/api/v1/labels", []string{"limit", "2"}, "all"},
		{"GET", "/api/v1/labels", []string{"match[]", "up{"}, "all"},
		{"GET", "/api/v1/labels", []string{"start", "x"}, "all"},
		{"GET", "/api/v1/label/mode/values", nil, "all"},
		{"GET", "/api/v1/label/__name__/values", []string{"limit", "5"}, "all"},
		{"GET", "/api/v1/label/cpu/values", []string{"match[]", sel}, "all"},
		{"GET", "/api/v1/label/U__mode/values", nil, "all"},
		{"GET", "/api/v1/label/nosuch/values", nil, "all"},
		{"GET", "/api/v1/label/mode/values", []string{"match[]", "x{"}, "all"},
		{"GET", "/api/v1/label/mode/values", []string{"end", "x"}, "all"},
		// Metadata, status, parsing, empties.
		{"GET", "/api/v1/metadata", nil, "all"},
		{"GET", "/api/v1/metadata", []string{"limit", "x"}, "all"},
		{"GET", "/api/v1/status/tsdb", []string{"limit", "0"}, "all"},
		{"GET", "/api/v1/status/tsdb", []string{"limit", "20000"}, "all"},
		{"GET", "/api/v1/status/buildinfo", nil, "shape"},
		{"GET", "/api/v1/status/walreplay", nil, "shape"},
		{"GET", "/api/v1/format_query", []string{"query", "sum(rate(x[5m]))by(job)"}, "all"},
		{"GET", "/api/v1/format_query", []string{"query", "sum("}, "all"},
		{"GET", "/api/v1/parse_query", []string{"query", `sum by (job) (rate(x{a="b"}[5m] offset 1m)) > bool 2`}, "all"},
		{"GET", "/api/v1/parse_query", []string{"query", `a - on(job) group_left(x) b`}, "all"},
		{"GET", "/api/v1/parse_query", []string{"query", `x[5m:1m] @ start()`}, "all"},
		{"GET", "/api/v1/parse_query", []string{"query", "sum("}, "all"},
		{"GET", "/api/v1/rules", nil, "all"},
		{"GET", "/api/v1/alerts", nil, "all"},
		{"GET", "/api/v1/query_exemplars", []string{"query", "go_goroutines"}, "all"},
		{"GET", "/api/v1/query_exemplars", []string{"query", "up{"}, "all"},
		{"GET", "/api/v1/query_exemplars", []string{"query", "up", "start", "x"}, "all"},
		// More parameter edge cases.
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", "2026-11-24T17:05:19.404+01:00"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", ""}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", t1, "timeout", "0"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", t1, "timeout", "1e30"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", t1, "limit", "0"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", t1, "lookback_delta", "-1s"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", t1, "lookback_delta", "0"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", "1795476319.4049"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", "-1"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", "1e20"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", "NaN"}, "all"},
		{"GET", "/api/v1/query", []string{"query", `{"go_goroutines"}`, "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", `{__name__="go_goroutines"}`, "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", `{__name__=~"go_gorout.*"}`, "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", `node_cpu_seconds_total{cpu="0",mode!="idle"}`, "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", `node_cpu_seconds_total{mode=~"i.*|u.*"}[2m]`, "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", `node_network_receive_bytes_total{device!~"lo|eth.*"}`, "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "(go_goroutines)", "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines[1m:15s]", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sum(node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sum by (mode) (rate(node_cpu_seconds_total[5m]))", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines * 2", "time", t1}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "rate(node_network_receive_bytes_total[1m])", "start", t0, "end", t1, "step", "60"}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "1 +", "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "nosuchfunc(up)", "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "rate(go_goroutines)", "time", t1}, "all"},
		{"GET", "/api/v1/query", []string{"query", "up @ foo()", "time", t1}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines", "start", t0, "end", t1, "step", "1e9"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines", "start", t0, "end", t1, "step", "1h"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines", "start", t0, "end", t1, "step", "60", "timeout", "x"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines", "start", t0, "end", t1, "step", "60", "lookback_delta", "30s"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines offset -1m", "start", t0, "end", t1, "step", "60"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines @ end()", "start", t0, "end", t1, "step", "60"}, "all"},
		{"GET", "/api/v1/query_range", nil, "all"},
		{"GET", "/api/v1/series", []string{"match[]", ""}, "all"},
		{"GET", "/api/v1/series", []string{"match[]", `{__name__="go_goroutines"}`, "start", t1, "end", t0}, "all"},
		{"GET", "/api/v1/series", []string{"match[]", "rate(up[5m])"}, "all"},
		{"GET", "/api/v1/series", []string{"match[]", "go_goroutines", "limit", "0"}, "all"},
		{"POST", "/api/v1/labels", []string{"match[]", "node_load1", "start", t0, "end", t1}, "all"},
		{"GET", "/api/v1/labels", []string{"match[]", `{job=~".*"}`}, "all"},
		{"GET", "/api/v1/labels", []string{"limit", "-1"}, "all"},
		// Prometheus truncates before sorting across its sources: which two
		// values come back is not defined.
		{"GET", "/api/v1/label/device/values", []string{"limit", "2"}, "shape"},
		{"GET", "/api/v1/label/device/values", []string{"match[]", `{device=~"eth.*"}`, "match[]", `node_network_up`}, "all"},
		{"GET", "/api/v1/label/U__mo_64_e/values", nil, "all"},
		{"GET", "/api/v1/label/0bad/values", nil, "all"},
		{"GET", "/api/v1/label/__name__/values", []string{"match[]", `{__name__=~"node_load.*"}`}, "all"},
		{"GET", "/api/v1/label/__name__/values", []string{"limit", "x"}, "all"},
		{"GET", "/api/v1/targets", nil, "all"},
		{"GET", "/api/v1/metadata", []string{"metric", "go_goroutines"}, "all"},
		{"GET", "/api/v1/metadata", []string{"limit_per_metric", "x"}, "all"},
		{"GET", "/api/v1/status/tsdb", []string{"limit", "x"}, "all"},
		{"GET", "/api/v1/status/tsdb", nil, "tsdb"},
		{"GET", "/api/v1/status/runtimeinfo", nil, "shape"},
		{"GET", "/api/v1/status/config", nil, "shape"},
		{"POST", "/api/v1/format_query", []string{"query", "a + on(b) c"}, "all"},
		{"GET", "/api/v1/format_query", nil, "all"},
		{"GET", "/api/v1/parse_query", []string{"query", `-foo{a!~"b"}[1m] offset 5m`}, "all"},
		{"GET", "/api/v1/parse_query", []string{"query", `topk(3, x) / ignoring(a) group_right y`}, "all"},
		{"GET", "/api/v1/parse_query", []string{"query", `"str"`}, "all"},
		{"GET", "/api/v1/query_exemplars", []string{"query", "up", "start", t1, "end", t0}, "all"},
		{"DELETE", "/api/v1/query", nil, "none"},
		{"POST", "/api/v1/label/mode/values", nil, "none"},
		{"GET", "/api/v1/read", nil, "none"},
		{"GET", "/api/v1/nosuch", nil, "none"},
		{"POST", "/api/v1/read", nil, "none"},
		{"OPTIONS", "/api/v1/query", nil, "none"},
		{"HEAD", "/api/v1/query", []string{"query", "go_goroutines"}, "none"},
		{"GET", "/api/v1/label/", nil, "none"},
		{"GET", "/api/v1/label//values", nil, "none"},
		{"GET", "/api/v1/label/mode/values/", nil, "none"},
		{"GET", "/api/v1/series", []string{"match[]", `{"go_goroutines"}`}, "all"},
		{"GET", "/api/v1/series", []string{"match[]", `{"node_cpu_seconds_total", mode="idle", cpu="0"}`}, "all"},
		{"GET", "/api/v1/label/U__/values", nil, "all"},
		{"GET", "/api/v1/label/U___5f_/values", nil, "all"},
		{"GET", "/api/v1/label/%C3%A9/values", nil, "all"},
		{"POST", "/api/v1/query", []string{"query", "go_goroutines", "time", t1, "time", "1"}, "all"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "query", "node_load1", "time", t1}, "all"},
		{"OPTIONS", "/api/v1/anything/at/all", nil, "none"},
		// PromQL breadth (the engine's; differences logged, not failed).
		{"GET", "/api/v1/query", []string{"query", "sum(node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sum by (mode) (node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "avg without (cpu) (node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "count(node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "max by (cpu) (node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "min(node_memory_MemFree_bytes)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "topk(3, node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "bottomk(2, node_network_receive_bytes_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "count_values(\"v\", go_goroutines)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "quantile(0.9, node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "stddev(node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "group by (mode) (node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "rate(node_cpu_seconds_total[5m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "irate(node_network_receive_bytes_total[2m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "increase(node_cpu_seconds_total{mode=\"idle\"}[5m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "delta(node_memory_MemFree_bytes[5m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "deriv(node_memory_MemFree_bytes[5m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "avg_over_time(go_goroutines[5m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "max_over_time(node_load1[10m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "count_over_time(go_goroutines[10m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sum_over_time(node_load1[3m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "last_over_time(node_load1[5m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "quantile_over_time(0.5, node_load1[10m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "stddev_over_time(node_load1[10m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "changes(node_load1[10m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "resets(node_cpu_seconds_total{mode=\"idle\"}[10m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "predict_linear(node_memory_MemFree_bytes[5m], 3600)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "abs(-node_load1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "ceil(node_load1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "floor(node_load1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "round(node_load1, 0.1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sqrt(node_load1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "exp(node_load1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "ln(node_memory_MemFree_bytes)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "log2(node_memory_MemFree_bytes)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "log10(node_memory_MemFree_bytes)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "clamp(node_load1, 0.1, 0.2)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "clamp_min(node_load1, 1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "clamp_max(node_load1, 0)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "timestamp(go_goroutines)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "vector(1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "scalar(go_goroutines)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "time()", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "absent(nothing_here)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "absent(go_goroutines)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "label_replace(go_goroutines, \"x\", \"$1\", \"__name__\", \"go_(.*)\")", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "label_join(go_goroutines, \"y\", \"-\", \"__name__\")", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sort(node_cpu_seconds_total{mode=\"idle\"})", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sort_desc(node_cpu_seconds_total{mode=\"idle\"})", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines + 1", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines * 2 - 3", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "2 ^ 10", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "10 % 3", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "-go_goroutines", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines > 5", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines > bool 5", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines == 7", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "node_cpu_seconds_total / on(cpu, mode, instance, job) node_cpu_seconds_total", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sum by (cpu) (node_cpu_seconds_total) / on(cpu) group_left sum by (cpu) (node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "node_cpu_seconds_total and node_cpu_seconds_total{mode=\"idle\"}", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "node_cpu_seconds_total unless node_cpu_seconds_total{mode=\"idle\"}", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines or node_load1", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "rate(node_cpu_seconds_total[5m])[5m:1m]", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "max_over_time(rate(node_cpu_seconds_total[1m])[5m:30s])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "histogram_quantile(0.9, rate(go_gc_duration_seconds_bucket[5m]))", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sum(rate(node_network_receive_bytes_total[5m])) by (device)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "1e-7 * go_goroutines", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines / 0", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "-go_goroutines / 0", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "0 / 0", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "node_memory_MemTotal_bytes * 1e15", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "day_of_week()", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "hour(vector(1795476319))", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "minute()", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "month()", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "year()", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "days_in_month()", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sgn(node_load1 - 0.1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "deg(1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "rad(180)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sin(1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "cos(0)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "tan(1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "asin(0.5)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "acos(0.5)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "atan(1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sinh(1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "cosh(1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "tanh(1)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "avg(rate(node_cpu_seconds_total[5m])) by (instance)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "count by (__name__) ({__name__=~\"node_network_.*\"})", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "sum(node_cpu_seconds_total) offset 5m", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "node_load1 @ 1795476000", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "present_over_time(go_goroutines[1m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "mad_over_time(node_load1[10m])", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "limitk(2, node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "limit_ratio(0.5, node_cpu_seconds_total)", "time", t1}, "engine"},
		{"GET", "/api/v1/query", []string{"query", "info(go_goroutines)", "time", t1}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "rate(node_cpu_seconds_total[5m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "irate(node_network_receive_bytes_total[2m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "increase(node_cpu_seconds_total{mode=\"idle\"}[5m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "delta(node_memory_MemFree_bytes[5m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "deriv(node_memory_MemFree_bytes[5m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "avg_over_time(go_goroutines[5m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "max_over_time(node_load1[10m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "count_over_time(go_goroutines[10m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "sum_over_time(node_load1[3m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "last_over_time(node_load1[5m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "quantile_over_time(0.5, node_load1[10m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "stddev_over_time(node_load1[10m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "changes(node_load1[10m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "resets(node_cpu_seconds_total{mode=\"idle\"}[10m])", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "predict_linear(node_memory_MemFree_bytes[5m], 3600)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "abs(-node_load1)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "ceil(node_load1)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "floor(node_load1)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "round(node_load1, 0.1)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "sqrt(node_load1)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "exp(node_load1)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "ln(node_memory_MemFree_bytes)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "log2(node_memory_MemFree_bytes)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "log10(node_memory_MemFree_bytes)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "clamp(node_load1, 0.1, 0.2)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "clamp_min(node_load1, 1)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "clamp_max(node_load1, 0)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "timestamp(go_goroutines)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "sort_desc(node_cpu_seconds_total{mode=\"idle\"})", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines + 1", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines * 2 - 3", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "2 ^ 10", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "10 % 3", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "-go_goroutines", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines > 5", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines > bool 5", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "go_goroutines == 7", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "node_cpu_seconds_total / on(cpu, mode, instance, job) node_cpu_seconds_total", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "sum by (cpu) (node_cpu_seconds_total) / on(cpu) group_left sum by (cpu) (node_cpu_seconds_total)", "start", t0, "end", t1, "step", "30"}, "engine"},
		{"GET", "/api/v1/query_range", []string{"query", "node_cpu_seconds_total and node_cpu_seconds_total{mode=\"idle\"}", "start", t0, "end", t1, "step", "30"}, "engine"},
		// Admin (disabled on both).
		{"POST", "/api/v1/admin/tsdb/delete_series", []string{"match[]", "go_goroutines"}, "all"},
		{"POST", "/api/v1/admin/tsdb/snapshot", nil, "all"},
		{"POST", "/api/v1/admin/tsdb/clean_tombstones", nil, "all"},
	}
	mismatches, engineGaps, successes := 0, 0, 0
	for i, c := range cases {
		v := vals(c.params...)
		ours, theirs := ask(t, ts.addr, c.method, c.path, v), ask(t, pbase, c.method, c.path, v)
		name := fmt.Sprintf("#%d %s %s?%s", i, c.method, c.path, v.Encode())
		var probs []string
		if ours.code != theirs.code {
			probs = append(probs, fmt.Sprintf("status %d, Prometheus %d", ours.code, theirs.code))
		}
		for _, k := range []string{"status", "errorType"} {
			if !reflect.DeepEqual(ours.env[k], theirs.env[k]) {
				probs = append(probs, fmt.Sprintf("%s %v, Prometheus %v", k, ours.env[k], theirs.env[k]))
			}
		}
		if (ours.env["warnings"] == nil) != (theirs.env["warnings"] == nil) {
			probs = append(probs, fmt.Sprintf("warnings %v, Prometheus %v", ours.env["warnings"], theirs.env["warnings"]))
		}
		switch c.data {
		case "all", "engine":
			if !reflect.DeepEqual(ours.env["data"], theirs.env["data"]) {
				probs = append(probs, "data differs")
			}
		case "tsdb":
			// Our own addition: per-shard figures. chunkCount is not
			// counted (Prometheus's unknown); the tables must match.
			od, _ := ours.env["data"].(map[string]any)
			pd, _ := theirs.env["data"].(map[string]any)
			if od != nil && pd != nil {
				delete(od, "shards")
				for _, d := range []map[string]any{od, pd} {
					if h, ok := d["headStats"].(map[string]any); ok {
						delete(h, "chunkCount")
					}
				}
			}
			if !reflect.DeepEqual(od["headStats"], pd["headStats"]) {
				probs = append(probs, "headStats differ")
			}
			for _, k := range []string{"seriesCountByMetricName", "labelValueCountByLabelName", "memoryInBytesByLabelName", "seriesCountByLabelValuePair"} {
				if !sameTop(od[k], pd[k]) {
					probs = append(probs, k+" differs")
				}
			}
		case "stats":
			// Known gap: the engine does not count seriesTouched.
			if d, ok := theirs.env["data"].(map[string]any); ok {
				if st, ok := d["stats"].(map[string]any); ok {
					if sm, ok := st["samples"].(map[string]any); ok {
						delete(sm, "seriesTouched")
					}
				}
			}
			fallthrough
		case "shape":
			if !sameShape(ours.env["data"], theirs.env["data"]) {
				probs = append(probs, "data shape differs")
			}
		}
		if theirs.code == 200 && ours.code == 200 {
			successes++
		}
		if len(probs) > 0 && c.data == "engine" {
			// PromQL coverage is the engine's (issue 13): counted apart,
			// and failed like the rest (there were none left to excuse).
			engineGaps++
		}
		if len(probs) > 0 {
			mismatches++
			t.Errorf("%s: %s\n  ours:       %.600s\n  Prometheus: %.600s", name, strings.Join(probs, "; "), ours.raw, theirs.raw)
		}
	}
	t.Logf("%d cases (%d answered 200 by both), %d mismatches, %d engine gaps", len(cases), successes, mismatches, engineGaps)
}

// sameTop compares two top-N tables [{"name":..,"value":..}]: the same
// values in order, and the same names above the smallest value (Prometheus
// orders ties, and cuts among them, arbitrarily).
func sameTop(a, b any) bool {
	as, _ := a.([]any)
	bs, _ := b.([]any)
	if len(as) != len(bs) {
		return false
	}
	if len(as) == 0 {
		return true
	}
	entry := func(x any) (string, float64) {
		m, _ := x.(map[string]any)
		n, _ := m["name"].(string)
		v, _ := m["value"].(float64)
		return n, v
	}
	_, low := entry(as[len(as)-1])
	an, bn := map[string]bool{}, map[string]bool{}
	for i := range as {
		na, va := entry(as[i])
		nb, vb := entry(bs[i])
		if va != vb {
			return false
		}
		if va > low {
			an[na], bn[nb] = true, true
		}
	}
	return reflect.DeepEqual(an, bn)
}

// TestPrometheus3_CompareAdmin runs the admin API on both (enabled) over
// the capture: deletions, then the reads that must reflect them.
func TestPrometheus3_CompareAdmin(t *testing.T) {
	prom := prometheus3()
	if prom == "" {
		t.Skip("Prometheus 3 is not installed (go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0, or set TSDB_PROMETHEUS3)")
	}
	ts := newTestServer(t, httpfast.Options{EnableAdminAPI: true})
	pbase := startPrometheus(t, prom, "--web.enable-admin-api")
	loadBoth(t, newClient(t, ts.addr, client.Options{}), pbase)
	const t1 = "1795476319"
	steps := []compareCase{
		{"POST", "/api/v1/admin/tsdb/delete_series", nil, "all"},
		{"POST", "/api/v1/admin/tsdb/delete_series", []string{"match[]", "up{"}, "all"},
		{"POST", "/api/v1/admin/tsdb/delete_series", []string{"match[]", "go_goroutines", "start", "x"}, "all"},
		{"POST", "/api/v1/admin/tsdb/delete_series", []string{"match[]", "go_goroutines"}, "all"},
		// Known difference: Prometheus still lists a series deleted whole
		// while its open head chunk exists (the head reports that chunk as
		// ending at +Inf, so no deletion covers it); we list series with
		// samples left, as its queries do.
		{"GET", "/api/v1/series", []string{"match[]", "go_goroutines"}, "shape"},
		{"GET", "/api/v1/query", []string{"query", "go_goroutines", "time", t1}, "all"},
		{"PUT", "/api/v1/admin/tsdb/delete_series", []string{"match[]", `node_cpu_seconds_total{mode="idle"}`, "start", "1795476000"}, "all"},
		{"GET", "/api/v1/query_range", []string{"query", `node_cpu_seconds_total{mode="idle"}`, "start", "1795475719.404", "end", t1, "step", "60"}, "all"},
		{"POST", "/api/v1/admin/tsdb/clean_tombstones", nil, "all"},
		{"GET", "/api/v1/query_range", []string{"query", `node_cpu_seconds_total{mode="idle"}`, "start", "1795475719.404", "end", t1, "step", "60"}, "all"},
		{"POST", "/api/v1/admin/tsdb/snapshot", nil, "shape"},
		{"POST", "/api/v1/admin/tsdb/snapshot", []string{"skip_head", "x"}, "all"},
		{"GET", "/api/v1/admin/tsdb/snapshot", nil, "none"},
	}
	for i, c := range steps {
		v := vals(c.params...)
		ours, theirs := ask(t, ts.addr, c.method, c.path, v), ask(t, pbase, c.method, c.path, v)
		name := fmt.Sprintf("#%d %s %s?%s", i, c.method, c.path, v.Encode())
		require.Equal(t, theirs.code, ours.code, "%s\n  ours: %.300s\n  Prometheus: %.300s", name, ours.raw, theirs.raw)
		require.Equal(t, theirs.env["status"], ours.env["status"], name)
		require.Equal(t, theirs.env["errorType"], ours.env["errorType"], name)
		switch c.data {
		case "all":
			require.Equal(t, theirs.env["data"], ours.env["data"], name)
		case "shape":
			require.True(t, sameShape(theirs.env["data"], ours.env["data"]), "%s: %s vs %s", name, ours.raw, theirs.raw)
		}
	}
}

// readBoth posts a remote read request to a server and decodes the
// answer: SAMPLES into series, STREAMED_XOR_CHUNKS frame by frame.
func readAnswer(t *testing.T, base string, req *prompb.ReadRequest) (int, string, map[string][]prompb.Sample) {
	t.Helper()
	b, err := req.Marshal()
	require.NoError(t, err)
	hr, err := http.NewRequest("POST", base+"/api/v1/read", bytes.NewReader(snappy.Encode(nil, b)))
	require.NoError(t, err)
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(hr)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string][]prompb.Sample{}
	ct := resp.Header.Get("Content-Type")
	if resp.StatusCode != 200 {
		return resp.StatusCode, ct, nil
	}
	key := func(qi int64, ls []prompb.Label) string {
		k := strconv.FormatInt(qi, 10)
		for _, l := range ls {
			k += " " + l.Name + "=" + l.Value
		}
		return k
	}
	if strings.HasPrefix(ct, "application/x-streamed-protobuf") {
		r := bufio.NewReader(bytes.NewReader(body))
		for {
			n, err := binary.ReadUvarint(r)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			frame := make([]byte, 4+n)
			_, err = io.ReadFull(r, frame)
			require.NoError(t, err)
			require.Equal(t, binary.BigEndian.Uint32(frame[:4]), crc32.Checksum(frame[4:], crc32.MakeTable(crc32.Castagnoli)))
			var m prompb.ChunkedReadResponse
			require.NoError(t, m.Unmarshal(frame[4:]))
			for _, cs := range m.ChunkedSeries {
				k := key(m.QueryIndex, cs.Labels)
				for _, c := range cs.Chunks {
					xc, err := chunkenc.FromData(chunkenc.EncXOR, c.Data)
					require.NoError(t, err)
					it := xc.Iterator(nil)
					for it.Next() == chunkenc.ValFloat {
						ts, v := it.At()
						out[k] = append(out[k], prompb.Sample{Timestamp: ts, Value: v})
					}
				}
			}
		}
		return 200, ct, out
	}
	raw, err := snappy.Decode(nil, body)
	require.NoError(t, err)
	var rr prompb.ReadResponse
	require.NoError(t, rr.Unmarshal(raw))
	for qi, res := range rr.Results {
		for _, ts := range res.Timeseries {
			out[key(int64(qi), ts.Labels)] = ts.Samples
		}
	}
	return 200, ct, out
}

// TestPrometheus3_CompareRemoteRead reads the capture through remote read
// from Prometheus 3.16 and from us, in both response types, and compares
// every series and sample.
func TestPrometheus3_CompareRemoteRead(t *testing.T) {
	prom := prometheus3()
	if prom == "" {
		t.Skip("Prometheus 3 is not installed (go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0, or set TSDB_PROMETHEUS3)")
	}
	ts := newTestServer(t, httpfast.Options{})
	pbase := startPrometheus(t, prom)
	loadBoth(t, newClient(t, ts.addr, client.Options{}), pbase)
	queries := []*prompb.Query{
		{StartTimestampMs: 1795475719404, EndTimestampMs: 1795476319000, Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "node_cpu_seconds_total"}}},
		{StartTimestampMs: 1795476000000, EndTimestampMs: 1795476100000, Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_RE, Name: "__name__", Value: "go_.*"}, {Type: prompb.LabelMatcher_NEQ, Name: "quantile", Value: "0.5"}}},
		{StartTimestampMs: 0, EndTimestampMs: 1, Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "go_goroutines"}}},
	}
	for _, types := range [][]prompb.ReadRequest_ResponseType{nil, {prompb.ReadRequest_SAMPLES}, {prompb.ReadRequest_STREAMED_XOR_CHUNKS}, {prompb.ReadRequest_STREAMED_XOR_CHUNKS, prompb.ReadRequest_SAMPLES}} {
		req := &prompb.ReadRequest{Queries: queries, AcceptedResponseTypes: types}
		oc, oct, ours := readAnswer(t, ts.addr, req)
		pc, pct, theirs := readAnswer(t, pbase, req)
		require.Equal(t, pc, oc, "%v", types)
		require.Equal(t, pct, oct, "%v", types)
		require.NotEmpty(t, ours)
		require.Equal(t, len(theirs), len(ours), "%v", types)
		for k, ps := range theirs {
			os := ours[k]
			require.Len(t, os, len(ps), k)
			for i := range ps {
				require.Equal(t, ps[i].Timestamp, os[i].Timestamp, k)
				require.Equal(t, math.Float64bits(ps[i].Value), math.Float64bits(os[i].Value), k)
			}
		}
	}
	// Malformed: both refuse with 400.
	for _, body := range [][]byte{[]byte("garbage"), snappy.Encode(nil, []byte{0xff, 0xff})} {
		o, err := http.Post(ts.addr+"/api/v1/read", "application/x-protobuf", bytes.NewReader(body))
		require.NoError(t, err)
		o.Body.Close()
		p, err := http.Post(pbase+"/api/v1/read", "application/x-protobuf", bytes.NewReader(body))
		require.NoError(t, err)
		p.Body.Close()
		require.Equal(t, p.StatusCode, o.StatusCode)
	}
}
