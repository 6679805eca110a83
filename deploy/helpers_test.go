// Package deploy holds the proofs of the deployment kit in this directory:
// the Grafana dashboard, the alert rules, the systemd unit, the compose
// file and Dockerfile, the examples and the static release binary. The
// tests build the binaries once (TestMain) and run them as an operator
// would: processes on free ports with empty data directories.
package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Stamped into the release binary by TestMain, checked by the tests.
const (
	testVersion   = "v9.9.9-deploytest"
	testCommit    = "0123456789abcdef"
	testBuildDate = "2026-12-03T00:00:00Z"
)

// bins are the binaries TestMain built: tsdb, healthcheck and the examples.
var bins = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploytest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := buildAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, "deploy tests: build:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// buildAll builds, as the release build does (CGO_ENABLED=0, -trimpath,
// -ldflags -X), the server, the healthcheck and every example program.
func buildAll(dir string) error {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			return fmt.Errorf("no go toolchain: %w", err)
		}
	}
	ld := fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s -X main.buildDate=%s", testVersion, testCommit, testBuildDate)
	for name, pkg := range map[string]string{
		"tsdb":                "./cmd/tsdb",
		"healthcheck":         "./deploy/healthcheck",
		"example_write":       "./examples/write",
		"example_query":       "./examples/query",
		"example_query_range": "./examples/query_range",
		"example_export":      "./examples/export",
	} {
		out := filepath.Join(dir, name)
		cmd := exec.Command(gobin, "build", "-trimpath", "-ldflags", ld, "-o", out, pkg)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
		bins[name] = out
	}
	return nil
}

// server is a running `tsdb start` process.
type server struct {
	base string // http://127.0.0.1:port
	addr string // 127.0.0.1:port
	cmd  *exec.Cmd
	log  *strings.Builder
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// startServer runs the release binary on a free port with an empty data
// directory (unless args set --data-dir) and waits for /-/ready. It is
// stopped with SIGTERM at the end of the test, which must exit 0.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	full := []string{"start", "--listen", addr, "--log.level", "warn"}
	if !containsPrefix(args, "--data-dir") {
		full = append(full, "--data-dir", filepath.Join(t.TempDir(), "data"))
	}
	full = append(full, args...)
	cmd := exec.Command(bins["tsdb"], full...)
	cmd.Env = cleanEnv()
	s := &server{base: "http://" + addr, addr: addr, cmd: cmd, log: &strings.Builder{}}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("tsdb exited with %v after SIGTERM; log:\n%s", err, s.log)
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("tsdb did not stop within 60s of SIGTERM")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("tsdb exited before ready: %v; log:\n%s", err, s.log)
		default:
		}
		if code, _, err := httpGet(s.base + "/-/ready"); err == nil && code == http.StatusOK {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("/-/ready not 200 within 60s; log:\n%s", s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cleanEnv is the environment without TSDB_* variables, so a developer's
// settings do not leak into the servers under test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TSDB_") {
			env = append(env, kv)
		}
	}
	return env
}

func containsPrefix(args []string, p string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, p) {
			return true
		}
	}
	return false
}

var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

func httpGet(u string) (int, []byte, error) {
	resp, err := httpClient.Get(u)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func httpPost(t testing.TB, u, contentType, body string) {
	t.Helper()
	resp, err := httpClient.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %d %s", u, resp.StatusCode, b)
	}
}

// apiResponse is the Prometheus API envelope with a matrix or vector.
type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// api GETs path with the query parameters and decodes the envelope; a
// non-success status is an error naming the server's message.
func api(ctx context.Context, base, path string, v url.Values) (*apiResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r apiResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %d, undecodable body %q: %w", path, resp.StatusCode, b, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %d %s: %s", path, resp.StatusCode, r.ErrorType, r.Error)
	}
	return &r, nil
}

// finitePoints counts the points of a matrix or vector result whose value
// is a finite number.
func finitePoints(r *apiResponse) int {
	n := 0
	count := func(p [2]any) {
		s, _ := p[1].(string)
		switch s {
		case "", "NaN", "+Inf", "-Inf":
			return
		}
		n++
	}
	for _, s := range r.Data.Result {
		for _, p := range s.Values {
			count(p)
		}
		if r.Data.ResultType == "vector" {
			count(s.Value)
		}
	}
	return n
}

// flagEnvNames are the TSDB_* variables `tsdb start` reads: one per flag
// of its --help (the flag table), as cmd/tsdb's envName derives them.
func flagEnvNames(t testing.TB) map[string]bool {
	t.Helper()
	out, err := exec.Command(bins["tsdb"], "start", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("tsdb start --help: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9][a-z0-9.\-]*)`)
	names := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		if m[1] == "help" || m[1] == "config.file" {
			continue
		}
		names["TSDB_"+strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(m[1]))] = true
	}
	if len(names) < 20 || !names["TSDB_DATA_DIR"] || !names["TSDB_RETENTION"] || !names["TSDB_LOG_LEVEL"] {
		t.Fatalf("flag table from --help looks wrong: %v", names)
	}
	return names
}

// unknownEnv lists the keys of env starting with TSDB_ that no flag reads.
func unknownEnv(keys []string, known map[string]bool) []string {
	var bad []string
	for _, k := range keys {
		if strings.HasPrefix(k, "TSDB_") && !known[k] {
			bad = append(bad, k)
		}
	}
	return bad
}
