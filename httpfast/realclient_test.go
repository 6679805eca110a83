package httpfast

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/httpfast/httpfasttest"
	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// Real clients, no mocks: Debian's prometheus (2.42, remote write 1.0)
// scraping Debian's prometheus-node-exporter, and Prometheus 3.16 (remote
// write 2.0) when its binary is there. Each test skips with a message
// when a client is absent; README.md says how to install them. The
// Influx Go client and the OpenTelemetry SDK live in their own test-only
// modules under httpfast/clienttest/.

// tcpServer is a Server on a real loopback port over a real database.
func tcpServer(t *testing.T) (addr string, db *pipeline.DB, s *Server) {
	t.Helper()
	db, err := pipeline.Open(t.TempDir(), pipeline.Options{Shards: 2, WAL: walseg.Options{Sync: walseg.SyncBatch}, HeadGCInterval: -1})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	s, err = New(Options{Logger: zaptest.NewLogger(t), Registerer: reg, Gatherer: reg})
	require.NoError(t, err)
	s.SetStorage(db)
	t.Cleanup(func() { require.NoError(t, db.Close()) }) // after the server's shutdown
	return httpfasttest.Serve(t, s), db, s
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startProcess runs a client binary until the test ends.
func startProcess(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	log, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s output:\n%s", name, tail(string(b), 3000))
		}
		log.Close()
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// promSamples queries a Prometheus server's API for a range selector and
// returns its samples by series.
func promSamples(t *testing.T, promAddr, selector string) map[string][]sample {
	t.Helper()
	resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(selector))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var r struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(b, &r), string(b))
	out := map[string][]sample{}
	for _, s := range r.Data.Result {
		var got []sample
		for _, v := range s.Values {
			ts := int64(math.Round(v[0].(float64) * 1000))
			f, err := strconv.ParseFloat(v[1].(string), 64)
			require.NoError(t, err)
			got = append(got, sample{ts, f})
		}
		out[labels.FromMap(s.Metric).String()] = got
	}
	return out
}

// waitFor polls cond (a bounded loop: an external process has no other
// way to tell us it is done).
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

// comparePrometheus checks that every sample Prometheus holds for
// selector, up to the newest sample we hold of that series, is ours too,
// bit for bit.
func comparePrometheus(t *testing.T, db *pipeline.DB, promAddr, selector string, minSeries int) {
	t.Helper()
	ours := readAll(t, db)
	theirs := promSamples(t, promAddr, selector)
	require.GreaterOrEqual(t, len(theirs), minSeries, "series in Prometheus for %s", selector)
	compared := 0
	for k, ps := range theirs {
		mine := ours[k]
		require.NotEmpty(t, mine, "series %s is in Prometheus but not here", k)
		last := mine[len(mine)-1].T
		byT := map[int64]float64{}
		for _, s := range mine {
			byT[s.T] = s.V
		}
		for _, p := range ps {
			if p.T > last {
				continue // not remote-written yet
			}
			v, ok := byT[p.T]
			require.True(t, ok, "series %s: sample at %d missing here", k, p.T)
			require.Equal(t, math.Float64bits(p.V), math.Float64bits(v), "series %s at %d", k, p.T)
			compared++
		}
	}
	require.Positive(t, compared)
	t.Logf("%s: %d series, %d samples identical in Prometheus and here", selector, len(theirs), compared)
}

func writePromConfig(t *testing.T, nodeAddr, ourAddr, rwExtra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: [%q]
remote_write:
  - url: http://%s/api/v1/write
%s    queue_config:
      batch_send_deadline: 500ms
      max_samples_per_send: 2000
    metadata_config:
      send_interval: 1s
`, nodeAddr, ourAddr, rwExtra)
	p := filepath.Join(t.TempDir(), "prometheus.yml")
	require.NoError(t, os.WriteFile(p, []byte(cfg), 0o644))
	return p
}

func TestRealClient_DebianPrometheusRemoteWrite(t *testing.T) {
	// Debian's binary by its path: a `go install`ed Prometheus 3 may come
	// first on PATH.
	prom, err1 := "/usr/bin/prometheus", error(nil)
	if _, err := os.Stat(prom); err != nil {
		prom, err1 = exec.LookPath("prometheus")
	}
	node, err2 := exec.LookPath("prometheus-node-exporter")
	if err1 != nil || err2 != nil {
		t.Skip("Debian's prometheus and prometheus-node-exporter are not installed (apt-get install -y prometheus prometheus-node-exporter)")
	}
	runPrometheusAgainstUs(t, prom, node, "")
}

func TestRealClient_Prometheus3RemoteWrite2(t *testing.T) {
	prom := os.Getenv("TSDB_PROMETHEUS3")
	if prom == "" {
		// `go install` leaves it in GOPATH/bin without a version string;
		// the build info names the module version (v0.3xx = Prometheus 3).
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "prometheus")
		if out, err := exec.Command("go", "version", "-m", p).Output(); err == nil && strings.Contains(string(out), "github.com/prometheus/prometheus\tv0.3") {
			prom = p
		}
	}
	node, err := exec.LookPath("prometheus-node-exporter")
	if prom == "" || err != nil {
		t.Skip("Prometheus 3 is not installed (go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0, or set TSDB_PROMETHEUS3) or prometheus-node-exporter is missing")
	}
	runPrometheusAgainstUs(t, prom, node, "    protobuf_message: io.prometheus.write.v2.Request\n",
		"--enable-feature=metadata-wal-records") // 2.0 sends metadata only with it
}

func runPrometheusAgainstUs(t *testing.T, prom, node, rwExtra string, flags ...string) {
	ourAddr, db, s := tcpServer(t)
	nodeAddr, promAddr := freePort(t), freePort(t)
	startProcess(t, node, "--web.listen-address="+nodeAddr)
	startProcess(t, prom, append([]string{"--config.file=" + writePromConfig(t, nodeAddr, ourAddr, rwExtra),
		"--storage.tsdb.path=" + t.TempDir(), "--web.listen-address=" + promAddr}, flags...)...)
	waitFor(t, "5 scrapes of node_exporter remote-written", 90*time.Second, func() bool {
		for k, v := range readAll(t, db) {
			if strings.HasPrefix(k, `{__name__="node_cpu_seconds_total"`) && len(v) >= 5 {
				return true
			}
		}
		return false
	})
	comparePrometheus(t, db, promAddr, `node_cpu_seconds_total[5m]`, 1)
	comparePrometheus(t, db, promAddr, `{job="node"}[5m]`, 200)
	waitFor(t, "metadata of node_cpu_seconds_total", 30*time.Second, func() bool {
		md, ok := s.Metadata().Get("node_cpu_seconds_total")
		return ok && md.Type == "counter" && md.Help != ""
	})
	v2 := strings.Contains(rwExtra, "v2")
	require.Equal(t, v2, testutil.ToFloat64(s.pmRemoteV2.samples) > 0, "samples arrived over remote write 2.0: %v", v2)
	require.Equal(t, !v2, testutil.ToFloat64(s.pmRemote.samples) > 0, "samples arrived over remote write 1.0: %v", !v2)
}
