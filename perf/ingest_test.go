package perf

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// TestPeerIngestCPU measures server CPU-seconds per million samples of
// HTTP ingest into 50,700 existing series (100 node_exporter-like hosts),
// for Silverback (the cmd/tsdb binary, built here) and VictoriaMetrics
// (Debian's victoria-metrics, or the first of TSDB_PERF_VICTORIAMETRICS;
// -influxSkipSingleField so both name the series alike), over Influx line protocol and Prometheus remote write
// 1.0, in the same run with the same client and the same pre-encoded
// payloads. CPU is utime+stime of the server process from /proc. It is a
// measurement, not a test of anything: it runs only with TSDB_PERF=1 and
// skips when victoria-metrics is absent.
//
//	TSDB_PERF=1 go test -run PeerIngestCPU -v -timeout 30m ./perf/
//
// TSDB_PERF_RUNS (default 3) repeats the measurement; medians are logged.
// TSDB_PERF_ROUNDS (default 20) sets the measured rounds of 50,700
// samples; TSDB_PERF_PROFILE=FILE writes a CPU profile of Silverback
// (TSDB_PERF_PROFILE_SECONDS long, default 3; the last one taken wins,
// TSDB_PERF_PROFILE_PATH=/api/v1/write picks the protocol); TSDB_PERF_ARGS
// adds flags to Silverback's (--storage.route-cache-size=-1).
func TestPeerIngestCPU(t *testing.T) {
	if os.Getenv("TSDB_PERF") == "" {
		t.Skip("a benchmark against peers: set TSDB_PERF=1 (needs Debian's victoria-metrics)")
	}
	vm := peerVictoriaMetrics()
	if vm == "" {
		t.Skip("victoria-metrics is not installed (apt-get install -y victoria-metrics)")
	}
	t.Logf("VictoriaMetrics: %s, %s", vm, version(vm, "-version"))
	runs, err := 3, error(nil)
	if v := os.Getenv("TSDB_PERF_RUNS"); v != "" {
		runs, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	bin := filepath.Join(t.TempDir(), "tsdb")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tsdb")
	build.Dir = ".."
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	const hosts, hostsPerRequest, clients = 100, 10, 4
	rounds := 21
	if v := os.Getenv("TSDB_PERF_ROUNDS"); v != "" {
		rounds, err = strconv.Atoi(v)
		require.NoError(t, err)
		rounds++ // plus the unmeasured first
	}
	// The scrapes end a minute before now: VictoriaMetrics silently drops
	// samples older than its retention (one month by default) after
	// parsing them, so a fixed date in the past would measure it parsing,
	// not storing (vm_rows_ignored_total is checked below).
	start := time.Now().Add(-time.Duration(rounds+4) * 15 * time.Second).UnixMilli()
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: hosts, Seed: 1, Start: start})
	require.NoError(t, err)
	// rounds scrapes of every host; round 0 creates the series (not measured).
	var lp, rw [][][]byte // [round][request]body
	var smp []loadgen.Sample
	for range rounds {
		smp = g.Next(smp[:0])
		var lpr, rwr [][]byte
		per := len(smp) / hosts * hostsPerRequest
		for off := 0; off < len(smp); off += per {
			part := smp[off:min(off+per, len(smp))]
			lpr = append(lpr, influxBody(g, part))
			rwr = append(rwr, remoteWriteBody(t, g, part))
		}
		lp = append(lp, lpr)
		rw = append(rw, rwr)
	}
	measured := (rounds - 1) * len(smp)
	t.Logf("%d series, %d measured samples per protocol, %d requests of %d hosts per round, %d clients",
		len(smp), measured, len(lp[0]), hostsPerRequest, clients)

	type result struct{ ours, theirs, oursSettled, theirsSettled []float64 }
	res := map[string]*result{"influx": {}, "remote_write": {}}
	for run := range runs {
		for _, proto := range []string{"influx", "remote_write"} {
			bodies, path, headers := lp, "/write", map[string]string{}
			if proto == "remote_write" {
				bodies, path = rw, "/api/v1/write"
				headers = map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "0.1.0"}
			}
			oursAddr := testAddr(t)
			args := []string{"start", "--listen=" + oursAddr, "--data-dir=" + t.TempDir(), "--self-scrape.interval=0", "--log.level=warn"}
			args = append(args, strings.Fields(os.Getenv("TSDB_PERF_ARGS"))...)
			ours := startServer(t, bin, oursAddr+"/-/ready", args...)
			cpuOurs, settledOurs := measure(t, ours, "http://"+oursAddr+path, headers, bodies, clients)
			stopServer(ours)
			vmAddr := testAddr(t)
			theirs := startServer(t, vm, vmAddr+"/health", "-storageDataPath="+t.TempDir(), "-httpListenAddr="+vmAddr,
				"-influxSkipSingleField", "-loggerLevel=ERROR")
			cpuVM, settledVM := measure(t, theirs, "http://"+vmAddr+path, headers, bodies, clients)
			ignored, ok := scrapeSum(t, "http://"+vmAddr+"/metrics", "vm_rows_ignored_total")
			stopServer(theirs)
			require.True(t, ok, "VictoriaMetrics exports no vm_rows_ignored_total")
			require.Zero(t, ignored, "VictoriaMetrics ignored rows: the measurement would not be of storing them")
			perM := func(cpu float64) float64 { return cpu / float64(measured) * 1e6 }
			r := res[proto]
			r.ours = append(r.ours, perM(cpuOurs))
			r.theirs = append(r.theirs, perM(cpuVM))
			r.oursSettled = append(r.oursSettled, perM(settledOurs))
			r.theirsSettled = append(r.theirsSettled, perM(settledVM))
			t.Logf("run %d %s: Silverback %.3f CPU-s/1M samples, VictoriaMetrics %.3f, ratio %.2f; until idle: %.3f, %.3f, ratio %.2f",
				run, proto, perM(cpuOurs), perM(cpuVM), cpuOurs/cpuVM, perM(settledOurs), perM(settledVM), settledOurs/settledVM)
		}
	}
	for _, proto := range []string{"influx", "remote_write"} {
		r := res[proto]
		o, v := median(r.ours), median(r.theirs)
		t.Logf("MEDIAN %s over %d runs: Silverback %.3f CPU-s per 1M samples, VictoriaMetrics %.3f, ratio %.2f", proto, runs, o, v, o/v)
		o, v = median(r.oursSettled), median(r.theirsSettled)
		t.Logf("MEDIAN %s over %d runs, until idle: Silverback %.3f CPU-s per 1M samples, VictoriaMetrics %.3f, ratio %.2f", proto, runs, o, v, o/v)
	}
}

// peerVictoriaMetrics is the VictoriaMetrics to measure against: the first
// of TSDB_PERF_VICTORIAMETRICS, else Debian's (/usr/bin, the version the
// issue names), else the first on PATH; "" when there is none.
func peerVictoriaMetrics() string {
	if env := os.Getenv("TSDB_PERF_VICTORIAMETRICS"); env != "" {
		return filepath.SplitList(env)[0]
	}
	if _, err := os.Stat("/usr/bin/victoria-metrics"); err == nil {
		return "/usr/bin/victoria-metrics"
	}
	p, _ := exec.LookPath("victoria-metrics")
	return p
}

// scrapeSum is the sum of every series of metric name at url.
func scrapeSum(t *testing.T, url, name string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return loadgen.SumMetric(b, name)
}

func testAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func startServer(t *testing.T, bin, readyURL string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) { // an external process: poll until it answers
		resp, err := http.Get("http://" + readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	t.Fatalf("%s did not become ready: %s", bin, logs.String())
	return nil
}

func stopServer(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// cpuSeconds reads utime+stime of pid.
func cpuSeconds(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 (1-based), in clock ticks of 1/100 s on Linux.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}

// measure sends round 0 (series creation, not measured), then the other
// rounds from clients goroutines, and returns the server's CPU-seconds
// for those: over the sends and settle after them, and over the sends and
// until the server is idle (waitIdle, as the ingest scenario of tsdb perf
// settles: every background merge or flush the rounds caused, which may
// run past settle). Before the measured rounds the server is also let go
// idle, so that no tail of the series creation is counted.
func measure(t *testing.T, cmd *exec.Cmd, url string, headers map[string]string, bodies [][][]byte, clients int) (cpu, settled float64) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer hc.CloseIdleConnections()
	send := func(reqs [][]byte) {
		var wg sync.WaitGroup
		next := make(chan []byte)
		for range clients {
			wg.Go(func() {
				for b := range next {
					req, err := http.NewRequest("POST", url, bytes.NewReader(b))
					require.NoError(t, err)
					for k, v := range headers {
						req.Header.Set(k, v)
					}
					resp, err := hc.Do(req)
					require.NoError(t, err)
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					require.Less(t, resp.StatusCode, 300, string(body))
				}
			})
		}
		for _, b := range reqs {
			next <- b
		}
		close(next)
		wg.Wait()
	}
	send(bodies[0])
	procCPU := func() float64 { return cpuSeconds(t, cmd.Process.Pid) }
	time.Sleep(settle) // let background flushes of the warm-up finish
	waitIdle(procCPU, 0, time.Second, time.Minute)
	before := cpuSeconds(t, cmd.Process.Pid)
	var prof sync.WaitGroup
	base := url[:strings.Index(url[len("http://"):], "/")+len("http://")]
	wantPath := os.Getenv("TSDB_PERF_PROFILE_PATH")
	if p := os.Getenv("TSDB_PERF_PROFILE"); p != "" && (wantPath == "" || url == base+wantPath) && strings.HasPrefix(filepath.Base(cmd.Path), "tsdb") {
		prof.Go(func() {
			secs := cmp.Or(os.Getenv("TSDB_PERF_PROFILE_SECONDS"), "3")
			resp, err := http.Get(base + "/debug/pprof/profile?seconds=" + secs)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			f, _ := os.Create(p)
			_, _ = io.Copy(f, resp.Body)
			f.Close()
		})
	}
	for _, r := range bodies[1:] {
		send(r)
	}
	// Peers acknowledge before they persist (VictoriaMetrics buffers rows
	// in memory and flushes them every second): count the CPU of the work
	// that follows the last answer too. Both servers are idle otherwise.
	time.Sleep(settle)
	prof.Wait()
	cpu = cpuSeconds(t, cmd.Process.Pid) - before
	waitIdle(procCPU, 0, time.Second, time.Minute)
	return cpu, cpuSeconds(t, cmd.Process.Pid) - before
}

// settle is how long a server gets to finish background work (flushes)
// before CPU is read.
const settle = 3 * time.Second

func influxBody(g *loadgen.NodeExporter, smp []loadgen.Sample) []byte {
	var b bytes.Buffer
	esc := strings.NewReplacer(" ", `\ `, ",", `\,`, "=", `\=`)
	for _, s := range smp {
		l := g.Labels(s.Series)
		b.WriteString(l.Get("__name__"))
		l.Range(func(lb labels.Label) {
			if lb.Name == "__name__" || lb.Value == "" {
				return
			}
			b.WriteByte(',')
			b.WriteString(lb.Name)
			b.WriteByte('=')
			b.WriteString(esc.Replace(lb.Value))
		})
		b.WriteString(" value=")
		b.WriteString(strconv.FormatFloat(s.V, 'g', -1, 64))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(s.T*1e6, 10))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func remoteWriteBody(t *testing.T, g *loadgen.NodeExporter, smp []loadgen.Sample) []byte {
	req := &prompb.WriteRequest{}
	for _, s := range smp {
		ts := prompb.TimeSeries{Samples: []prompb.Sample{{Timestamp: s.T, Value: s.V}}}
		g.Labels(s.Series).Range(func(lb labels.Label) {
			if lb.Value != "" {
				ts.Labels = append(ts.Labels, prompb.Label{Name: lb.Name, Value: lb.Value})
			}
		})
		req.Timeseries = append(req.Timeseries, ts)
	}
	b, err := proto.Marshal(req)
	require.NoError(t, err)
	return snappy.Encode(nil, b)
}
