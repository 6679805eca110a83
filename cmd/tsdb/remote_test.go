package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// startServer runs `tsdb start` in-process on a loopback port and returns
// its address; the server stops at the end of the test.
func startServer(t *testing.T) string {
	t.Helper()
	readyc := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- runStart(ctx, startOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Shards: 2, WALSync: walseg.SyncNone,
			Logger: zaptest.NewLogger(t), ready: func(a net.Addr, _ *pipeline.DB) { readyc <- a }})
	}()
	var addr net.Addr
	select {
	case addr = <-readyc:
	case err := <-errc:
		t.Fatalf("server did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-errc)
	})
	return "http://" + addr.String()
}

// run runs the CLI with args and stdin and returns stdout, stderr and
// the exit code main would use.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd(&out, &errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), exitCode(err)
}

func TestCLI_WriteExportAndExitCodes(t *testing.T) {
	addr := startServer(t)
	_, stderr, code := run(t, "", "write", "--addr", addr, `cpu_usage{host="server1"} 0.85 1700000000000`, `cpu_usage{host="server2"} 0.5 1700000000000`)
	require.Equal(t, 0, code, stderr)
	_, _, code = run(t, "mem,host=a used=1.5 1700000000\n", "write", "--addr", addr, "--format", "influx", "--precision", "s")
	require.Equal(t, 0, code)
	t.Setenv("TSDB_ADDR", addr)
	out, stderr, code := run(t, "", "export", "--match", "cpu_usage", "--match", "mem_used", "--format", "prom")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "cpu_usage{host=\"server1\"} 0.85 1700000000000\ncpu_usage{host=\"server2\"} 0.5 1700000000000\nmem_used{host=\"a\"} 1.5 1700000000000\n", out)

	// Exit codes: usage 2, refused 3, unreachable 4.
	_, stderr, code = run(t, "", "write", `bad{ 1`)
	require.Equal(t, exitRejected, code)
	require.Contains(t, stderr, "line 1")
	_, _, code = run(t, "", "write", "--format", "xml", "a 1")
	require.Equal(t, exitUsage, code)
	_, _, code = run(t, "", "export")
	require.Equal(t, exitUsage, code)
	_, _, code = run(t, "", "query")
	require.Equal(t, exitUsage, code)
	_, _, code = run(t, "", "query", "--nope", "up")
	require.Equal(t, exitUsage, code)
	_, _, code = run(t, "", "export", "--match", "up", "--addr", "http://127.0.0.1:1", "--timeout", "1s")
	require.Equal(t, exitUnavailable, code)
	_, _, code = run(t, "", "export", "--match", "{a=~\".*\"}")
	require.Equal(t, exitRejected, code)
}

// TestCLI_ImportExportCapture imports the real node_exporter capture
// through `tsdb import`, exports it with `tsdb export` as JSON lines and as
// text, imports the JSON lines into a second server and checks that its
// text export is byte for byte the first's (values bit-exact).
func TestCLI_ImportExportCapture(t *testing.T) {
	const capture = "/work/shared/data/node_exporter_10min.prom"
	raw, err := os.ReadFile(capture)
	if err != nil {
		t.Skipf("capture not available: %v", err)
	}
	a, b := startServer(t), startServer(t)
	_, stderr, code := run(t, "", "import", "--addr", a, "--file", capture, "--batch-size", "128KiB", "--progress", "always")
	require.Equal(t, 0, code, stderr)
	lines := strings.Count(string(raw), "\n")
	require.Contains(t, stderr, "imported "+itoa(lines)+" lines")
	require.Contains(t, stderr, "] 100% ", "progress bar drawn")

	dir := t.TempDir()
	jl := filepath.Join(dir, "all.jsonl")
	_, stderr, code = run(t, "", "export", "--addr", a, "--match", `{__name__=~".+"}`, "-O", jl)
	require.Equal(t, 0, code, stderr)
	textA, stderr, code := run(t, "", "export", "--addr", a, "--match", `{__name__=~".+"}`, "--format", "prom")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, lines, strings.Count(textA, "\n"))

	_, stderr, code = run(t, "", "import", "--addr", b, "--file", jl, "--format", "jsonl")
	require.Equal(t, 0, code, stderr)
	textB, _, code := run(t, "", "export", "--addr", b, "--match", `{__name__=~".+"}`, "--format", "prom")
	require.Equal(t, 0, code)
	require.Equal(t, textA, textB)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestCLI_Query(t *testing.T) {
	addr := startServer(t)
	t.Setenv("TSDB_ADDR", addr)
	_, stderr, code := run(t, "up{instance=\"a\",job=\"node\"} 1 1700000000000\nup{instance=\"b\",job=\"node\"} 0.5 1700000000000\nup{instance=\"a\",job=\"node\"} 1 1700000060000\n", "write")
	require.Equal(t, 0, code, stderr)

	out, stderr, code := run(t, "", "query", "up", "--time", "1700000030")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, `SERIES                        TIMESTAMP                 VALUE
up{instance="a", job="node"}  2023-11-14T22:13:50.000Z  1
up{instance="b", job="node"}  2023-11-14T22:13:50.000Z  0.5
`, out)

	out, _, code = run(t, "", "query", `up{instance="b"}`, "--time", "2023-11-14T22:13:50Z", "-o", "json")
	require.Equal(t, 0, code)
	require.Equal(t, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"b","job":"node"},"value":[1700000030,"0.5"]}]}}`+"\n", out)

	out, _, code = run(t, "", "query", `up{instance="a"}`, "--start", "1700000000", "--end", "1700000060", "--step", "30s", "-o", "csv")
	require.Equal(t, 0, code)
	require.Equal(t, "__name__,instance,job,timestamp,value\nup,a,node,1700000000000,1\nup,a,node,1700000030000,1\nup,a,node,1700000060000,1\n", out)

	out, _, code = run(t, "", "query", "nothing", "--time", "1700000030")
	require.Equal(t, 0, code)
	require.Contains(t, out, "(no data)")

	_, stderr, code = run(t, "", "query", "up{")
	require.Equal(t, exitRejected, code)
	require.Contains(t, stderr, "bad_data")
	_, _, code = run(t, "", "query", "up", "--time", "later")
	require.Equal(t, exitUsage, code)
	_, _, code = run(t, "", "query", "up", "--time", "1", "--step", "1m")
	require.Equal(t, exitUsage, code)

	// tsdb start serves the status API.
	resp, err := http.Get(addr + "/api/v1/status/flags")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(body), `"status":"success"`)

	out, _, code = run(t, "", "completion", "bash")
	require.Equal(t, 0, code)
	require.Contains(t, out, "__start_tsdb")
}

// TestParseWhen_RejectsNonFiniteAndOutOfRange: a time flag that parses as a
// float but is NaN, ±Inf or beyond what int64 milliseconds hold is a usage
// error naming the flag, not a silently wrapped time.
func TestParseWhen_RejectsNonFiniteAndOutOfRange(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, s := range []string{"NaN", "Inf", "-Inf", "+Inf", "1e300", "-1e300", "9.3e15"} {
		_, err := parseWhen("start", s, now)
		require.Error(t, err, s)
		require.Contains(t, err.Error(), "--start", s)
	}
	got, err := parseWhen("end", "1700000000.5", now)
	require.NoError(t, err)
	require.Equal(t, int64(1700000000500), got.UnixMilli())
	got, err = parseWhen("end", "-1h", now)
	require.NoError(t, err)
	require.Equal(t, now.Add(-time.Hour), got)
}

// TestParseStep_RejectsNonFinite: "Inf" seconds used to convert to a
// negative time.Duration.
func TestParseStep_RejectsNonFinite(t *testing.T) {
	for _, s := range []string{"Inf", "+Inf", "NaN", "1e300", "0", "-5"} {
		_, err := parseStep(s)
		require.Error(t, err, s)
	}
	d, err := parseStep("15")
	require.NoError(t, err)
	require.Equal(t, 15*time.Second, d)
}
