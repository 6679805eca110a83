package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/client"
)

// Real clients against a real server with the real engine: Debian's
// promtool (query instant, range, series, labels) and Debian's Prometheus
// 2.42 reading through remote_read from us. Each skips with a message
// when its binary is absent (.ci/run installs Debian's prometheus).

func lookPromtool(t *testing.T) string {
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install -y prometheus)")
	}
	return p
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	require.NoError(t, err, "%s %v: %s", name, args, out)
	return string(out)
}

func TestPromtool_Queries(t *testing.T) {
	promtool := lookPromtool(t)
	ts := newTestServer(t, httpfast.Options{})
	ctx := context.Background()
	require.NoError(t, newClient(t, ts.addr, client.Options{}).Write(ctx, client.FormatProm, []byte(queryFixture), client.WriteOptions{}))

	out := runTool(t, promtool, "query", "instant", "--time=1700000030", ts.addr, "up")
	require.Equal(t, "up{instance=\"a\", job=\"node\"} => 1 @[1700000030]\nup{instance=\"b\", job=\"node\"} => 0 @[1700000030]\n", out)

	out = runTool(t, promtool, "query", "instant", "-o", "json", "--time=1700000060", ts.addr, `up{instance="b"}`)
	var vec []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &vec), out)
	require.Len(t, vec, 1)
	require.Equal(t, "1", vec[0].Value[1])

	out = runTool(t, promtool, "query", "range", "--start=1700000000", "--end=1700000060", "--step=30s", ts.addr, `up{instance="b"}`)
	require.Equal(t, "up{instance=\"b\", job=\"node\"} =>\n0 @[1700000000]\n0 @[1700000030]\n1 @[1700000060]\n", out)

	out = runTool(t, promtool, "query", "series", "--match=up", "--start=1699999990", "--end=1700000070", ts.addr)
	require.Equal(t, "{__name__=\"up\", instance=\"a\", job=\"node\"}\n{__name__=\"up\", instance=\"b\", job=\"node\"}\n", out)

	out = runTool(t, promtool, "query", "labels", "--start=1699999990", "--end=1700000070", ts.addr, "instance")
	require.Equal(t, "a\nb\n", out)
}

// TestPromtool_Capture queries the real node_exporter capture through
// promtool after importing it through the client.
func TestPromtool_Capture(t *testing.T) {
	promtool := lookPromtool(t)
	raw, err := os.ReadFile("/work/shared/data/node_exporter_10min.prom")
	if err != nil {
		t.Skipf("capture not available: %v", err)
	}
	ts := newTestServer(t, httpfast.Options{})
	c := newClient(t, ts.addr, client.Options{})
	_, err = c.Import(context.Background(), client.FormatProm, strings.NewReader(string(raw)), client.ImportOptions{})
	require.NoError(t, err)
	// The capture's first scrape is at 1795475719.404.
	out := runTool(t, promtool, "query", "instant", "--time=1795475719.404", ts.addr, "go_goroutines")
	require.Equal(t, "go_goroutines => 7 @[1795475719.404]\n", out)
	out = runTool(t, promtool, "query", "labels", "--start=1795475000", "--end=1795477000", ts.addr, "__name__")
	require.Contains(t, out, "node_cpu_seconds_total\n")
	out = runTool(t, promtool, "query", "series", "--match=node_cpu_seconds_total{mode=\"idle\"}", "--start=1795475000", "--end=1795477000", ts.addr)
	require.Equal(t, 2, strings.Count(out, "\n"), out)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestPrometheus_RemoteRead runs Debian's Prometheus 2.42 with an empty
// TSDB and a remote_read section pointing at us, and checks it answers
// the same PromQL as we do.
func TestPrometheus_RemoteRead(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("Debian's prometheus is not installed (apt-get install -y prometheus)")
	}
	ts := newTestServer(t, httpfast.Options{})
	ctx := context.Background()
	c := newClient(t, ts.addr, client.Options{})
	now := time.Now().Truncate(time.Second)
	var body strings.Builder
	for i := range 20 {
		at := now.Add(-time.Duration(19-i) * 15 * time.Second).UnixMilli()
		fmt.Fprintf(&body, "rr_metric{instance=\"a\"} %d %d\nrr_metric{instance=\"b\"} %d %d\n", i, at, 100+i, at)
	}
	require.NoError(t, c.Write(ctx, client.FormatProm, []byte(body.String()), client.WriteOptions{}))

	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1h\nremote_read:\n  - url: "+ts.addr+"/api/v1/read\n    read_recent: true\n"), 0o644))
	listen := freePort(t)
	pctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(pctx, prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+listen)
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
			t.Logf("prometheus log:\n%s", b)
		}
	})
	base := "http://" + listen
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ready := false
	for range 100 {
		if resp, err := hc.Get(base + "/-/ready"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				ready = true
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.True(t, ready, "prometheus did not become ready")

	pc := newClient(t, base, client.Options{})
	for _, q := range []string{"rr_metric", `rr_metric{instance="b"}`} {
		theirs, err := pc.Query(ctx, q, now, client.QueryOptions{})
		require.NoError(t, err, q)
		ours, err := c.Query(ctx, q, now, client.QueryOptions{})
		require.NoError(t, err, q)
		require.NotEmpty(t, ours.Vector, q)
		require.Equal(t, ours.Vector, theirs.Vector, q)
		rt, err := pc.QueryRange(ctx, q, now.Add(-5*time.Minute), now, 15*time.Second, client.QueryOptions{})
		require.NoError(t, err, q)
		ro, err := c.QueryRange(ctx, q, now.Add(-5*time.Minute), now, 15*time.Second, client.QueryOptions{})
		require.NoError(t, err, q)
		require.NotEmpty(t, ro.Matrix, q)
		require.Equal(t, ro.Matrix, rt.Matrix, q)
	}
}
