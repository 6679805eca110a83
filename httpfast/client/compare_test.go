package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	ctx := context.Background()
	_, err = ours.Import(ctx, client.FormatProm, bytes.NewReader(raw), client.ImportOptions{})
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
// (all, but a difference is PromQL coverage: logged, not failed) or
// "none".
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
		{"OPTIONS", "/api/v1/anything/at/all", nil, "none"},
		// Admin (disabled on both).
		{"POST", "/api/v1/admin/tsdb/delete_series", []string{"match[]", "go_goroutines"}, "all"},
		{"POST", "/api/v1/admin/tsdb/snapshot", nil, "all"},
		{"POST", "/api/v1/admin/tsdb/clean_tombstones", nil, "all"},
	}
	mismatches, engineGaps := 0, 0
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
		if len(probs) > 0 && c.data == "engine" {
			// PromQL coverage is the engine's (issue 13); reported, not failed.
			engineGaps++
			t.Logf("engine gap %s: %s\n  ours:       %.300s\n  Prometheus: %.300s", name, strings.Join(probs, "; "), ours.raw, theirs.raw)
			continue
		}
		if len(probs) > 0 {
			mismatches++
			t.Errorf("%s: %s\n  ours:       %.600s\n  Prometheus: %.600s", name, strings.Join(probs, "; "), ours.raw, theirs.raw)
		}
	}
	t.Logf("%d cases, %d mismatches, %d engine gaps", len(cases), mismatches, engineGaps)
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
