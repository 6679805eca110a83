package deploy

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamples runs examples/write, query, query_range and export (built
// by TestMain) and examples/curl.sh against the release binary.
func TestExamples(t *testing.T) {
	s := startServer(t)
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bins[name], append([]string{"-addr", s.addr}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	if out := run("example_write"); !strings.Contains(out, "wrote 10 samples") {
		t.Errorf("write: %s", out)
	}
	if out := run("example_query"); !strings.Contains(out, "room:lab") {
		t.Errorf("query: %s", out)
	}
	if out := run("example_query", "example_weather_temperature"); !strings.Contains(out, "=> 12.5") {
		t.Errorf("query of the line-protocol sample: %s", out)
	}
	if out := run("example_query_range", "-range", "1m", "-step", "5s"); !strings.Contains(out, "points") {
		t.Errorf("query_range: %s", out)
	}
	out := run("example_export")
	if n := strings.Count(out, `"__name__":"example_`); n != 3 {
		t.Errorf("export: %d series lines, want 3 (temperature, weather_temperature, weather_humidity):\n%s", n, out)
	}
	if out := run("example_export", "-format", "prom"); !strings.Contains(out, "example_temperature_celsius{") {
		t.Errorf("export -format prom: %s", out)
	}
	// An error is an exit status, not a silent success.
	if err := exec.Command(bins["example_query"], "-addr", s.addr, "no_such_metric").Run(); err == nil {
		t.Errorf("query of a missing metric exited 0")
	}

	bash, errB := exec.LookPath("bash")
	_, errC := exec.LookPath("curl")
	if errB != nil || errC != nil {
		t.Skip("bash or curl not installed: examples/curl.sh not run")
	}
	script, _ := filepath.Abs("../examples/curl.sh")
	cmd := exec.Command(bash, script)
	cmd.Env = append(cleanEnv(), "TSDB_ADDR="+s.addr)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("curl.sh: %v\n%s", err, b)
	}
	for _, want := range []string{`"curl_weather_temperature"`, `"curl_temp"`, `"curl_up"`, `"curl_ask"`, `"curl_queue_size"`, testVersion} {
		if !strings.Contains(string(b), want) {
			t.Errorf("curl.sh output lacks %s:\n%s", want, b)
		}
	}
}
