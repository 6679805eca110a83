package perf

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"go/build"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// System is a database the scenarios drive: Silverback (the tsdb binary)
// or a peer. A System with an empty Bin is absent: its cells are skipped
// with Missing as the reason.
type System struct {
	// Name is the key in results ("silverback", "victoriametrics-1.79",
	// "victoriametrics-1.151", "prometheus", "influxdb"); Family the
	// system without its version ("victoriametrics": what --peers and the
	// scenarios' per-system steps go by); Label the human name with
	// version.
	Name, Family, Label string
	Bin                 string
	Missing             string // why Bin is empty
	// args returns the command line for a data directory and listen
	// address (host:port); env the extra environment.
	args func(dir, addr string) []string
	env  func(dir, addr string) []string
	// readyPath answers 2xx once the server is ready for writes and
	// queries (after WAL replay).
	readyPath string
	// ingest maps a protocol to the write path (with query string); a
	// protocol not in it is refused with noIngest's reason.
	ingest   map[loadgen.Protocol]string
	noIngest string
	// promQL is true when the system answers /api/v1/query_range;
	// influxQL when it answers InfluxQL on /query (database perf).
	promQL, influxQL bool
	noPromQL         string
	// setup runs once after the first start on a new directory (InfluxDB
	// needs its database created).
	setup func(p *Proc) error
	// merge asks for a full compaction (nil: not available).
	merge func(p *Proc) error
	// backfillLimit is how far in the past the system accepts samples
	// over its write API (0: any).
	backfillLimit time.Duration
	// heapMetric is the Go heap in-use metric in /metrics ("" when the
	// system is not in Go or does not expose it).
	heapMetric string
	// version is the system's x.y.z ("?" when unknown).
	version string
	// caches are the directories (relative to the data directory) where
	// the system keeps caches across a restart, query results among them;
	// dropCaches removes them before a cold start.
	caches []string
}

// dropCaches removes the caches the system persisted under dir and
// returns their allocated bytes (-1 when the system persists none).
func (s *System) dropCaches(dir string) (int64, error) {
	if len(s.caches) == 0 {
		return -1, nil
	}
	var n int64
	for _, c := range s.caches {
		p := filepath.Join(dir, c)
		n += dirBytes(p)
		if err := os.RemoveAll(p); err != nil {
			return n, fmt.Errorf("perf: %s: drop caches: %w", s.Name, err)
		}
	}
	return n, nil
}

// Supports reports whether the system ingests p, and why not.
func (s *System) Supports(p loadgen.Protocol) (bool, string) {
	if _, ok := s.ingest[p]; ok {
		return true, ""
	}
	return false, s.noIngest
}

// Proc is a running server of a System.
type Proc struct {
	Sys  *System
	Dir  string
	Addr string // host:port
	// Ready is the time from exec to the first 2xx on the ready path.
	Ready time.Duration
	cmd   *exec.Cmd
	logs  *syncBuffer
	done  chan struct{}
	err   error // of Wait, valid after done
}

// syncBuffer keeps the last 64 KiB of a server's output, written by the
// exec package's copying goroutines and read on failure.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 64<<10 {
		keep := append([]byte(nil), s.b.Bytes()[s.b.Len()-32<<10:]...)
		s.b.Reset()
		s.b.Write(keep)
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Start starts the system on dir (created when missing) at a free
// loopback port and waits until it is ready (at most readyTimeout).
// A new directory gets the system's setup.
func (s *System) Start(ctx context.Context, dir string) (*Proc, error) {
	if s.Bin == "" {
		return nil, fmt.Errorf("perf: %s: %s", s.Name, s.Missing)
	}
	fresh := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		fresh = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p := &Proc{Sys: s, Dir: dir, Addr: addr, logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(s.Bin, s.args(dir, addr)...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.Env = os.Environ()
	if s.env != nil {
		p.cmd.Env = append(p.cmd.Env, s.env(dir, addr)...)
	}
	t0 := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf: start %s: %w", s.Name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	if err := p.waitReady(ctx, t0); err != nil {
		p.Kill()
		return nil, err
	}
	if fresh && s.setup != nil {
		if err := s.setup(p); err != nil {
			p.Kill()
			return nil, fmt.Errorf("perf: %s setup: %w", s.Name, err)
		}
	}
	return p, nil
}

const readyTimeout = 5 * time.Minute

// readyPoll is the interval of waitReady's polls, which bounds the
// resolution of every start-to-ready time. It was 10 ms: that added 0-10
// ms (5 on average) to each system's figure, ~5-10 % of a 50-100 ms start
// but 0.5 % of a 1 s one, so the restart ratios were biased against the
// faster system. At 2 ms a figure is resolved to ~1 ms on average. A poll
// before the server listens is a refused connect, and one while it
// replays a 503 from a trivial handler: measured on Silverback, ~13 us of
// server CPU per poll (500 a second: 0.7 % of a core).
const readyPoll = 2 * time.Millisecond

func (p *Proc) waitReady(ctx context.Context, t0 time.Time) error {
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	deadline := t0.Add(readyTimeout)
	// An external process: poll until it answers, every readyPoll.
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("perf: %s exited before it was ready (%v): %s", p.Sys.Name, p.err, tail(p.logs.String()))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := hc.Get(p.URL(p.Sys.readyPath))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				p.Ready = time.Since(t0)
				return nil
			}
		}
		time.Sleep(readyPoll)
	}
	return fmt.Errorf("perf: %s not ready after %v: %s", p.Sys.Name, readyTimeout, tail(p.logs.String()))
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// URL returns the server's URL for path.
func (p *Proc) URL(path string) string { return "http://" + p.Addr + path }

// Stop stops the server cleanly (SIGINT, then SIGKILL after a minute).
func (p *Proc) Stop() error {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		p.Kill()
		return fmt.Errorf("perf: %s did not stop within a minute of SIGINT", p.Sys.Name)
	}
	return nil
}

// Kill kills the server with SIGKILL and waits for it.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// CPU returns the server's CPU-seconds so far (utime + stime), or 0 when
// /proc is not readable.
func (p *Proc) CPU() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0
	}
	// Fields after the command name; utime and stime are fields 14 and
	// 15 (1-based) in clock ticks, 100 a second on Linux.
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}

// RSS returns the server's resident set size and its peak (VmHWM) in
// bytes.
func (p *Proc) RSS() (cur, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			cur = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return cur, peak
}

// Metric sums the series of name in the server's /metrics (ok false when
// absent).
func (p *Proc) Metric(name string) (float64, bool) {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(p.URL("/metrics"))
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return loadgen.SumMetric(b, name)
}

// MetricPrefix sums the values of the lines of the server's /metrics that
// start with prefix (a name and the start of a label set, e.g.
// `vm_rows{type="storage/`); ok false when none does.
func (p *Proc) MetricPrefix(prefix string) (float64, bool) {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(p.URL("/metrics"))
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return sumPrefix(b, prefix)
}

func sumPrefix(b []byte, prefix string) (float64, bool) {
	var sum float64
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line[strings.LastIndexByte(line, '}')+1:])
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

// post sends a request to the server and fails on a non-2xx answer.
func (p *Proc) post(path, contentType string, body io.Reader) error {
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Post(p.URL(path), contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

func (p *Proc) get(path string) error {
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Get(p.URL(path))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// dirBytes is the disk space (allocated blocks) of every regular file
// under dir (skip: relative top-level names left out).
func dirBytes(dir string, skip ...string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // files vanish under a running server's merges
		}
		rel, _ := filepath.Rel(dir, path)
		top, _, _ := strings.Cut(rel, string(filepath.Separator))
		for _, s := range skip {
			if top == s {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += diskBytes(fi)
			}
		}
		return nil
	})
	return n
}

// waitMerges waits, at most limit, until VictoriaMetrics reports no active
// merge twice in a row (vm_active_merges summed over part types).
func waitMerges(p *Proc, limit time.Duration) {
	time.Sleep(time.Second) // the forced merge starts in the background
	zero := 0
	for deadline := time.Now().Add(limit); time.Now().Before(deadline) && zero < 2; {
		if v, ok := p.Metric("vm_active_merges"); ok && v == 0 {
			zero++
		} else {
			zero = 0
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// idleCPU is the CPU rate (CPU-s per second) below which a server counts
// as settled: its background work for what it was sent (VictoriaMetrics's
// index and part merges, a head flush) is done and only its timers and
// the runtime's housekeeping remain.
const idleCPU = 0.05

// waitIdle waits at least min, then until the server's CPU (cpu: its
// CPU-seconds so far) over each of
// two consecutive windows of window is below idleCPU, at most limit; it
// returns the time waited and whether the server settled. Every system is
// measured the same way: the CPU read after it covers the background work
// the phase caused, and the next phase starts on a quiet server.
func waitIdle(cpu func() float64, min, window, limit time.Duration) (time.Duration, bool) {
	t0 := time.Now()
	time.Sleep(min)
	quiet := 0
	last, lastT := cpu(), time.Now()
	for time.Since(t0) < limit {
		time.Sleep(window)
		c, now := cpu(), time.Now()
		if (c-last)/now.Sub(lastT).Seconds() < idleCPU {
			quiet++
		} else {
			quiet = 0
		}
		last, lastT = c, now
		if quiet >= 2 {
			return time.Since(t0), true
		}
	}
	return time.Since(t0), false
}

// waitStable waits until dir's size has not changed for quiet, at most
// limit, and returns the size.
func waitStable(dir string, quiet, limit time.Duration) int64 {
	last, since := dirBytes(dir), time.Now()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		n := dirBytes(dir)
		if n != last {
			last, since = n, time.Now()
			continue
		}
		if time.Since(since) >= quiet {
			break
		}
	}
	return last
}

// Systems returns Silverback (bin: the tsdb binary) and the peers, each
// found on PATH or at the path in its environment variable
// (TSDB_PERF_VICTORIAMETRICS, TSDB_PERF_PROMETHEUS, TSDB_PERF_INFLUXD).
// VictoriaMetrics is one peer per distinct version installed (Debian's
// 1.79 in /usr/bin and a go-installed one in GOPATH/bin, say), oldest
// first. Absent peers have an empty Bin and a Missing reason.
func Systems(bin string) []*System {
	out := []*System{silverback(bin)}
	out = append(out, victoriaMetricsPeers()...)
	return append(out, prometheusPeer(), influxDB())
}

// victoriaMetricsBins returns the victoria-metrics binaries to measure:
// those of TSDB_PERF_VICTORIAMETRICS (a list separated like PATH) when it
// is set, else every victoria-metrics on PATH, in /usr/bin and in
// GOBIN / GOPATH/bin, each once (by resolved path). missing says why
// there is none.
func victoriaMetricsBins() (bins []string, missing []string) {
	const name = "victoria-metrics"
	if env := os.Getenv("TSDB_PERF_VICTORIAMETRICS"); env != "" {
		for _, p := range filepath.SplitList(env) {
			if _, err := os.Stat(p); err != nil {
				missing = append(missing, fmt.Sprintf("TSDB_PERF_VICTORIAMETRICS=%s: %v", p, err))
				continue
			}
			bins = append(bins, p)
		}
		return bins, missing
	}
	dirs := filepath.SplitList(os.Getenv("PATH"))
	dirs = append(dirs, "/usr/bin")
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		bins = append(bins, p)
	}
	if len(bins) == 0 {
		missing = append(missing, "victoria-metrics is not installed (apt-get install -y victoria-metrics, or go install "+
			"github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@v1.151.0, or set TSDB_PERF_VICTORIAMETRICS)")
	}
	return bins, missing
}

// victoriaMetricsPeers returns one System per VictoriaMetrics binary of a
// distinct version, oldest first, named victoriametrics-MAJOR.MINOR; an
// absent one is a single System named victoriametrics with the reason.
func victoriaMetricsPeers() []*System {
	bins, missing := victoriaMetricsBins()
	var out []*System
	for _, m := range missing {
		out = append(out, victoriaMetrics("", m))
	}
	var present []*System
	versions := map[string]bool{}
	for _, b := range bins {
		s := victoriaMetrics(b, "")
		if versions[s.version] {
			continue // the same version twice (a copy): measure it once
		}
		versions[s.version] = true
		present = append(present, s)
	}
	slices.SortStableFunc(present, func(a, b *System) int { return compareVersions(a.version, b.version) })
	return append(out, present...)
}

// compareVersions orders "x.y.z" versions numerically ("?" first).
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// majorMinor returns "x.y" of version "x.y.z" ("" when it is not one).
func majorMinor(v string) string {
	f := strings.Split(v, ".")
	if len(f) < 2 || f[0] == "" || f[1] == "" {
		return ""
	}
	for _, x := range f[:2] {
		if _, err := strconv.Atoi(x); err != nil {
			return ""
		}
	}
	return f[0] + "." + f[1]
}

func lookPeer(envVar, name, install string) (string, string) {
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Sprintf("%s=%s: %v", envVar, p, err)
		}
		return p, ""
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Sprintf("%s is not installed (%s, or set %s)", name, install, envVar)
	}
	return p, ""
}

var (
	versionRE   = regexp.MustCompile(`v?(\d+\.\d+\.\d+)`)
	goVersionRE = regexp.MustCompile(`go\d+\.\d+(\.\d+)?`)
)

// version returns bin's version: its main module's version when it was
// built with go install (Prometheus's v0.316.0 is Prometheus 3.16.0),
// else the first x.y.z of bin's answer to args that is not its Go
// version, else its Debian package's version.
func version(bin string, args ...string) string {
	if bi, err := buildinfo.ReadFile(bin); err == nil {
		v := bi.Main.Version
		if m := versionRE.FindStringSubmatch(v); m != nil && strings.HasPrefix(v, "v") {
			if bi.Main.Path == "github.com/prometheus/prometheus" && strings.HasPrefix(v, "v0.") {
				var minor, patch int
				if _, err := fmt.Sscanf(v, "v0.%d.%d", &minor, &patch); err == nil {
					return fmt.Sprintf("%d.%d.%d", minor/100, minor%100, patch)
				}
			}
			return m[1]
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	out = goVersionRE.ReplaceAll(out, nil)
	if m := versionRE.FindSubmatch(out); m != nil {
		return string(m[1])
	}
	// Debian's victoria-metrics is built without its version stamp: ask
	// the package manager which package owns the binary.
	if own, err := exec.CommandContext(ctx, "dpkg-query", "-S", bin).Output(); err == nil {
		pkg, _, _ := strings.Cut(string(own), ":")
		if v, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Version}", strings.TrimSpace(pkg)).Output(); err == nil {
			if m := versionRE.FindSubmatch(v); m != nil {
				return string(m[1])
			}
		}
	}
	return "?"
}

func silverback(bin string) *System {
	s := &System{
		Name: "silverback", Family: "silverback", Label: "Silverback", Bin: bin,
		args: func(dir, addr string) []string {
			return []string{"start", "--listen=" + addr, "--data-dir=" + dir, "--self-scrape.interval=0", "--log.level=warn"}
		},
		readyPath: "/-/ready",
		ingest: map[loadgen.Protocol]string{
			loadgen.ProtocolInflux: "/write", loadgen.ProtocolRW1: "/api/v1/write",
			loadgen.ProtocolRW2: "/api/v1/write", loadgen.ProtocolOTLP: "/opentelemetry/v1/metrics",
		},
		promQL:     true, // answered 404 until the query API lands: the query scenario checks
		heapMetric: "go_memstats_heap_inuse_bytes",
	}
	if bin == "" {
		s.Missing = "no tsdb binary given"
	}
	return s
}

// victoriaMetrics returns the System of one victoria-metrics binary (bin
// "": absent, for missing's reason).
func victoriaMetrics(bin, missing string) *System {
	s := &System{
		Name: "victoriametrics", Family: "victoriametrics", Label: "VictoriaMetrics", Bin: bin, Missing: missing,
		args: func(dir, addr string) []string {
			return []string{"-storageDataPath=" + dir, "-httpListenAddr=" + addr, "-influxSkipSingleField",
				"-loggerLevel=ERROR", "-search.latencyOffset=0s"}
		},
		readyPath: "/health",
		ingest: map[loadgen.Protocol]string{
			loadgen.ProtocolInflux: "/write", loadgen.ProtocolRW1: "/api/v1/write",
		},
		noIngest:   "VictoriaMetrics 1.79 has no remote write 2.0 or OTLP receiver",
		promQL:     true,
		merge:      func(p *Proc) error { return p.get("/internal/force_merge") },
		heapMetric: "go_memstats_heap_inuse_bytes",
		// -cacheDataPath's default: the rollup result cache (query
		// results), the TSID and metric name caches, saved at a clean
		// stop and loaded at start.
		caches: []string{"cache"},
	}
	if bin != "" {
		s.version = version(bin, "-version")
		s.Label += " " + s.version
		if mm := majorMinor(s.version); mm != "" {
			s.Name += "-" + mm
		}
		if !strings.HasPrefix(s.Label, "VictoriaMetrics 1.79") {
			s.ingest[loadgen.ProtocolRW2] = "/api/v1/write"
			s.ingest[loadgen.ProtocolOTLP] = "/opentelemetry/v1/metrics"
		}
	}
	return s
}

// prometheusConfig is an empty configuration: no scrapes, no rules.
const prometheusConfig = "global:\n  scrape_interval: 1m\n"

func prometheusPeer() *System {
	bin, missing := lookPeer("TSDB_PERF_PROMETHEUS", "prometheus", "apt-get install -y prometheus, or go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0")
	s := &System{
		Name: "prometheus", Family: "prometheus", Label: "Prometheus", Bin: bin, Missing: missing,
		args: func(dir, addr string) []string {
			cfg := filepath.Join(dir, "perf-prometheus.yml")
			_ = os.WriteFile(cfg, []byte(prometheusConfig), 0o644)
			return []string{"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
				"--web.listen-address=" + addr, "--web.enable-remote-write-receiver", "--log.level=error"}
		},
		readyPath: "/-/ready",
		ingest:    map[loadgen.Protocol]string{loadgen.ProtocolRW1: "/api/v1/write"},
		noIngest:  "Prometheus has no line-protocol receiver",
		promQL:    true,
		// The head appender refuses samples older than the head's range
		// (out of bounds): remote write is for recent data only.
		backfillLimit: time.Hour,
		heapMetric:    "go_memstats_heap_inuse_bytes",
	}
	if bin != "" {
		s.Label += " " + version(bin, "--version")
		if !strings.HasPrefix(s.Label, "Prometheus 2.") {
			s.ingest[loadgen.ProtocolRW2] = "/api/v1/write"
		}
	}
	return s
}

func influxDB() *System {
	bin, missing := lookPeer("TSDB_PERF_INFLUXD", "influxd", "apt-get install -y influxdb")
	s := &System{
		Name: "influxdb", Family: "influxdb", Label: "InfluxDB", Bin: bin, Missing: missing,
		args: func(dir, addr string) []string { return []string{"run"} },
		env: func(dir, addr string) []string {
			rpc, _ := freeAddr()
			return []string{
				"INFLUXDB_META_DIR=" + filepath.Join(dir, "meta"),
				"INFLUXDB_DATA_DIR=" + filepath.Join(dir, "data"),
				"INFLUXDB_DATA_WAL_DIR=" + filepath.Join(dir, "wal"),
				"INFLUXDB_HTTP_BIND_ADDRESS=" + addr,
				"INFLUXDB_BIND_ADDRESS=" + rpc,
				"INFLUXDB_REPORTING_DISABLED=true",
				"INFLUXDB_HTTP_LOG_ENABLED=false",
				"INFLUXDB_DATA_QUERY_LOG_ENABLED=false",
				"INFLUXDB_LOGGING_LEVEL=error",
				"INFLUXDB_DATA_MAX_SERIES_PER_DATABASE=0",
				"INFLUXDB_DATA_MAX_VALUES_PER_TAG=0",
				"INFLUXDB_HTTP_MAX_BODY_SIZE=0",
				// Persist and fully compact soon after writes stop, so the
				// compression scenario sees its final size within seconds.
				"INFLUXDB_DATA_CACHE_SNAPSHOT_WRITE_COLD_DURATION=2s",
				"INFLUXDB_DATA_COMPACT_FULL_WRITE_COLD_DURATION=5s",
			}
		},
		readyPath: "/ping",
		ingest: map[loadgen.Protocol]string{
			loadgen.ProtocolInflux: "/write?db=perf",
			loadgen.ProtocolRW1:    "/api/v1/prom/write?db=perf",
		},
		noIngest: "InfluxDB 1.6 takes line protocol and remote write 1.0 only",
		noPromQL: "InfluxDB 1.6 answers InfluxQL, not PromQL",
		influxQL: true,
		setup: func(p *Proc) error {
			return p.post("/query?q="+strings.ReplaceAll("CREATE DATABASE perf", " ", "+"), "application/x-www-form-urlencoded", nil)
		},
	}
	if bin != "" {
		s.Label += " " + version(bin, "version")
	}
	return s
}
