package deploy

import (
	"context"
	"debug/elf"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestReleaseBinary: the release build is static, stamped, and answers
// /-/ready and /api/v1/status/buildinfo from an empty data directory.
func TestReleaseBinary(t *testing.T) {
	for _, name := range []string{"tsdb", "healthcheck"} {
		f, err := elf.Open(bins[name])
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has a program interpreter: not a static binary", name)
			}
		}
		f.Close()
	}
	out, err := exec.Command(bins["tsdb"], "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("tsdb --version: %v %s", err, out)
	}
	for _, w := range []string{testVersion, testCommit, testBuildDate} {
		if !strings.Contains(string(out), w) {
			t.Errorf("tsdb --version = %q, missing %q", out, w)
		}
	}

	dir := filepath.Join(t.TempDir(), "empty")
	s := startServer(t, "--data-dir", dir) // waits for /-/ready 200
	code, body, err := httpGet(s.base + "/api/v1/status/buildinfo")
	if err != nil || code != 200 {
		t.Fatalf("buildinfo: %d %s %v", code, body, err)
	}
	var bi struct {
		Data struct{ Version, Revision, BuildDate string }
	}
	if err := json.Unmarshal(body, &bi); err != nil {
		t.Fatal(err)
	}
	if bi.Data.Version != testVersion || bi.Data.Revision != testCommit || bi.Data.BuildDate != testBuildDate {
		t.Errorf("buildinfo = %+v, want %s %s %s", bi.Data, testVersion, testCommit, testBuildDate)
	}
	// The container HEALTHCHECK binary agrees.
	if out, err := exec.Command(bins["healthcheck"], s.base+"/-/ready").CombinedOutput(); err != nil {
		t.Errorf("healthcheck on a ready server: %v %s", err, out)
	}
	if err := exec.Command(bins["healthcheck"], s.base+"/no/such/path").Run(); err == nil {
		t.Errorf("healthcheck on a 404 exited 0")
	}
	if err := exec.Command(bins["healthcheck"], "http://"+freeAddr(t)+"/-/ready").Run(); err == nil {
		t.Errorf("healthcheck with nothing listening exited 0")
	}
}

// alertRules reads deploy/alerts.yml.
func alertRules(t *testing.T) []struct{ Alert, Expr string } {
	t.Helper()
	raw, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	var rules []struct{ Alert, Expr string }
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// TestAlerts_PromtoolCheck runs `promtool check rules` on the alert rules
// and `promtool check config` on the compose stack's Prometheus config.
func TestAlerts_PromtoolCheck(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus): alert rules not checked by promtool")
	}
	if out, err := exec.Command(promtool, "check", "rules", "alerts.yml").CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules alerts.yml: %v\n%s", err, out)
	}
	// prometheus.yml names the rules at their path in the container.
	dir := t.TempDir()
	cfg, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("alerts.yml")
	cfg = []byte(strings.ReplaceAll(string(cfg), "/etc/prometheus/alerts.yml", abs))
	p := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(p, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", p).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config prometheus/prometheus.yml: %v\n%s", err, out)
	}
}

// TestAlerts_EvaluateAgainstServer evaluates every alert expression on the
// release binary: each must parse and run. As in production, a monitored
// server is watched by another: "monitored" runs at a series bound of 20
// with its self-scrape on (which rejects its own samples past the bound);
// its /metrics is imported into "monitor" every second as a scrape would
// (job, instance labels). The head-bound and rejection alerts must fire
// there; the failure alerts must stay quiet.
func TestAlerts_EvaluateAgainstServer(t *testing.T) {
	rules := alertRules(t)
	if len(rules) < 8 {
		t.Fatalf("%d alert rules", len(rules))
	}
	monitored := startServer(t, "--self-scrape.interval", "1s", "--storage.max-active-series", "20")
	monitor := startServer(t, "--self-scrape.interval", "0")
	ctx := context.Background()
	scrape := func() {
		code, body, err := httpGet(monitored.base + "/metrics")
		if err != nil || code != 200 {
			t.Fatalf("scrape: %d %v", code, err)
		}
		httpPost(t, monitor.base+"/api/v1/import/prometheus?"+url.Values{"extra_label": {"job=tsdb", "instance=" + monitored.addr}}.Encode(),
			"text/plain", string(body))
	}
	fired := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		scrape()
		for _, r := range rules {
			res, err := api(ctx, monitor.base, "/api/v1/query", url.Values{"query": {r.Expr}})
			if err != nil {
				t.Fatalf("alert %s: %v\n  expr: %s", r.Alert, err, r.Expr)
			}
			if len(res.Data.Result) > 0 {
				fired[r.Alert] = true
			}
		}
		if fired["SilverbackHeadNearSeriesLimit"] && fired["SilverbackIngestRejections"] {
			break
		}
		time.Sleep(time.Second)
	}
	for _, want := range []string{"SilverbackHeadNearSeriesLimit", "SilverbackIngestRejections"} {
		if !fired[want] {
			t.Errorf("alert %s never returned a result for a server at its series bound", want)
		}
	}
	for _, quiet := range []string{"SilverbackShardFailed", "SilverbackWALWriteErrors", "SilverbackBackgroundErrors", "SilverbackBlocksQuarantined", "SilverbackWALCorruption"} {
		if fired[quiet] {
			t.Errorf("alert %s fired on a healthy server", quiet)
		}
	}
}

// TestSystemdUnit checks the unit's sandboxing directives and runs
// `systemd-analyze verify` on it (ExecStart pointed at the built binary),
// failing on any complaint.
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile("silverback.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	for _, d := range []string{"ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "LimitNOFILE=", "User=silverback", "DynamicUser=yes", "StateDirectory=silverback", "ExecStart=/usr/local/bin/tsdb start --config.file=/etc/silverback/tsdb.yml"} {
		if !strings.Contains(unit, "\n"+d) {
			t.Errorf("silverback.service lacks %q", d)
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: unit not verified")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "silverback.service")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(unit, "/usr/local/bin/tsdb", bins["tsdb"])), 0o644); err != nil {
		t.Fatal(err)
	}
	// systemd-analyze verify exits 0 on unknown keys and bad values; its
	// warnings on stderr are the verdict.
	out, err := exec.Command(sa, "verify", p).CombinedOutput()
	var complaints []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "silverback.service") {
			complaints = append(complaints, l)
		}
	}
	if err != nil || len(complaints) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, strings.Join(complaints, "\n"))
	}
}

// TestExampleConfig starts the release binary with deploy/tsdb.yml (the
// unit's config file), its data-dir and listen overridden by flags.
func TestExampleConfig(t *testing.T) {
	s := startServer(t, "--config.file", "tsdb.yml", "--data-dir", filepath.Join(t.TempDir(), "d"))
	code, body, err := httpGet(s.base + "/api/v1/status/flags")
	if err != nil || code != 200 {
		t.Fatalf("flags: %d %v", code, err)
	}
	if !strings.Contains(string(body), `"retention":"30d"`) {
		t.Errorf("retention from tsdb.yml not applied: %s", body)
	}
}

// TestCompose: docker-compose.yml parses, has the four services with named
// volumes, every TSDB_* variable it sets is a flag's variable, the
// retention comes from an env var, and every file it mounts exists.
func TestCompose(t *testing.T) {
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Build       map[string]string `yaml:"build"`
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, s := range []string{"silverback", "grafana", "node-exporter", "prometheus"} {
		if _, ok := c.Services[s]; !ok {
			t.Errorf("service %s missing", s)
		}
	}
	sb := c.Services["silverback"]
	known := flagEnvNames(t)
	var keys []string
	for k := range sb.Environment {
		keys = append(keys, k)
	}
	if bad := unknownEnv(keys, known); len(bad) > 0 {
		t.Errorf("compose sets TSDB_* variables no flag reads: %v", bad)
	}
	if !regexp.MustCompile(`^\$\{[A-Z_]+:-[0-9]+[a-z]+\}$`).MatchString(sb.Environment["TSDB_RETENTION"]) {
		t.Errorf("TSDB_RETENTION = %q, want ${VAR:-default} from the environment", sb.Environment["TSDB_RETENTION"])
	}
	if df := filepath.Join(sb.Build["context"], sb.Build["dockerfile"]); df != "../deploy/Dockerfile" {
		t.Errorf("silverback builds %s, want deploy/Dockerfile", df)
	}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			switch {
			case strings.HasPrefix(src, "./"):
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			case strings.HasPrefix(src, "/"):
			default:
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("service %s uses volume %s, not declared as a named volume", name, src)
				}
			}
		}
	}
	// The checker itself catches a wrong name.
	if bad := unknownEnv([]string{"TSDB_RETENTON", "TSDB_DATA_DIR"}, known); !slices.Equal(bad, []string{"TSDB_RETENTON"}) {
		t.Errorf("unknownEnv = %v", bad)
	}
	// Grafana provisioning: the data source the dashboard's variable picks.
	var ds struct {
		Datasources []struct{ UID, Type, URL string }
	}
	raw, err = os.ReadFile("grafana/provisioning/datasources/silverback.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &ds); err != nil || len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://silverback:8080" {
		t.Errorf("datasource provisioning: %+v %v", ds, err)
	}
}

// TestDockerfile is a structural lint (no Docker engine here to build it):
// multi-stage, static build, distroless or scratch final stage, non-root
// user, /data volume, HEALTHCHECK on /-/ready with the healthcheck binary,
// TSDB_* variables every one a flag's.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, drop comments.
	text := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(raw), " ")
	var froms []string
	var final []string // instructions of the last stage
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		ins := strings.ToUpper(strings.Fields(l)[0])
		if ins == "FROM" {
			froms = append(froms, l)
			final = nil
		}
		final = append(final, l)
	}
	if len(froms) < 2 {
		t.Fatalf("not multi-stage: %v", froms)
	}
	last := froms[len(froms)-1]
	if !strings.Contains(last, "distroless/static") && !strings.HasSuffix(last, " scratch") {
		t.Errorf("final stage %q is not scratch or distroless static", last)
	}
	has := func(prefix string) string {
		for _, l := range final {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		return ""
	}
	if u := has("USER "); u == "" || strings.HasPrefix(u, "USER 0") || strings.HasPrefix(u, "USER root") {
		t.Errorf("final stage user %q: want a non-root USER", u)
	}
	if !strings.Contains(has("VOLUME "), "/data") {
		t.Errorf("no VOLUME /data in the final stage")
	}
	if hc := has("HEALTHCHECK "); !strings.Contains(hc, "/usr/local/bin/healthcheck") || !strings.Contains(hc, "/-/ready") {
		t.Errorf("HEALTHCHECK %q: want the healthcheck binary on /-/ready", hc)
	}
	if !strings.Contains(text, "CGO_ENABLED=0") || !strings.Contains(text, "-trimpath") || !strings.Contains(text, "-X main.version=") {
		t.Errorf("build stage is not the static, stamped release build")
	}
	for _, pkg := range regexp.MustCompile(`-o \S+ (\./\S+)`).FindAllStringSubmatch(text, -1) {
		if _, err := os.Stat(filepath.Join("..", pkg[1])); err != nil {
			t.Errorf("Dockerfile builds %s: %v", pkg[1], err)
		}
	}
	env := has("ENV ")
	keys := regexp.MustCompile(`(TSDB_[A-Z0-9_]+)=`).FindAllStringSubmatch(env, -1)
	if len(keys) == 0 {
		t.Fatalf("no TSDB_* ENV in the final stage")
	}
	var names []string
	for _, k := range keys {
		names = append(names, k[1])
	}
	if bad := unknownEnv(names, flagEnvNames(t)); len(bad) > 0 {
		t.Errorf("Dockerfile sets TSDB_* variables no flag reads: %v", bad)
	}
}
