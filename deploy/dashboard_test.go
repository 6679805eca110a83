package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/silverback-tsdb/tsdb/httpfast/client"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile("grafana/silverback.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("grafana/silverback.json: %v", err)
	}
	return d
}

// ingestEveryProtocol writes a little through each ingest protocol and
// checks the server took it.
func ingestEveryProtocol(t *testing.T, base string) {
	t.Helper()
	now := time.Now()
	sec, ms := now.Unix(), now.UnixMilli()
	httpPost(t, base+"/write?precision=s", "text/plain", fmt.Sprintf("dt_influx,host=a value=1 %d", sec))
	httpPost(t, base+"/api/v2/write?org=o&bucket=b&precision=ms", "text/plain", fmt.Sprintf("dt_influx2,host=a value=2 %d", ms))
	httpPost(t, base+"/api/v1/import/prometheus", "text/plain", "# TYPE dt_text gauge\ndt_text{k=\"v\"} 3\n")
	httpPost(t, base+"/api/v1/write", "application/json",
		fmt.Sprintf(`{"timeseries":[{"labels":[{"name":"__name__","value":"dt_json"}],"samples":[{"timestamp":%d,"value":4}]}]}`, ms))
	httpPost(t, base+"/api/v1/import/csv?format=1:label:ticker,2:metric:dt_csv,3:time:unix_s", "text/csv", fmt.Sprintf("GOOG,5,%d\n", sec))
	httpPost(t, base+"/opentelemetry/v1/metrics", "application/json", fmt.Sprintf(
		`{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"dt"}}]},`+
			`"scopeMetrics":[{"metrics":[{"name":"dt.otlp","gauge":{"dataPoints":[{"timeUnixNano":"%d","asInt":"6"}]}}]}]}]}`, now.UnixNano()))
	c, err := client.New(base, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteSeries(context.Background(), []client.Series{{
		Labels: map[string]string{"__name__": "dt_remote_write"}, Samples: []client.Sample{{T: ms, V: 7}},
	}}); err != nil {
		t.Fatalf("remote write: %v", err)
	}
	// The same timestamp with another value: answered 400, counted by
	// reason (duplicate_timestamp).
	resp, err := httpClient.Post(base+"/api/v1/write", "application/json", strings.NewReader(
		fmt.Sprintf(`{"timeseries":[{"labels":[{"name":"__name__","value":"dt_json"}],"samples":[{"timestamp":%d,"value":40}]}]}`, ms)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("conflicting duplicate write: status %d, want 400", resp.StatusCode)
	}
}

// grafanaVars expands Grafana's built-in variables the way Grafana does
// for a range query of rangeDur at step: $__interval is the step,
// $__rate_interval is max($__interval + scrape interval, 4 x scrape
// interval), $__range is the range. Template variables are replaced from
// vars ($name and ${name}).
func grafanaVars(expr string, step, scrape, rangeDur time.Duration, vars map[string]string) string {
	rate := max(step+scrape, 4*scrape)
	secs := func(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) + "s" }
	r := []string{
		"$__rate_interval", secs(rate), "${__rate_interval}", secs(rate),
		"$__interval_ms", strconv.FormatInt(step.Milliseconds(), 10),
		"$__interval", secs(step), "${__interval}", secs(step),
		"$__range_s", strconv.FormatInt(int64(rangeDur/time.Second), 10),
		"$__range", secs(rangeDur), "${__range}", secs(rangeDur),
	}
	for k, v := range vars {
		r = append(r, "${"+k+"}", v, "$"+k, v)
	}
	return strings.NewReplacer(r...).Replace(expr)
}

var leftoverVar = regexp.MustCompile(`\$\{?[A-Za-z_]\w*`)

// TestDashboard_EveryPanelHasData starts the release binary, lets it
// scrape itself every second, ingests through every protocol and runs
// queries, then evaluates every target of every panel of
// grafana/silverback.json through /api/v1/query_range with Grafana's
// variables expanded. A target that fails to parse or evaluate, or returns
// no finite point, fails the test.
func TestDashboard_EveryPanelHasData(t *testing.T) {
	const scrape = time.Second
	s := startServer(t, "--self-scrape.interval", scrape.String(), "--shards", "2")
	ingestEveryProtocol(t, s.base)
	ctx := context.Background()

	// Wait for enough self-scrapes that rate() over $__rate_interval has
	// two points in several steps; each poll is also a query, so the query
	// panels have data.
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := api(ctx, s.base, "/api/v1/query", url.Values{"query": {`count_over_time(tsdb_head_series{job="tsdb", shard="0"}[1m])`}})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Data.Result) == 1 {
			v, _ := r.Data.Result[0].Value[1].(string)
			if n, _ := strconv.ParseFloat(v, 64); n >= 9 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("self-scrape did not collect 9 scrapes in 60s: %+v; log:\n%s", r.Data, s.log)
		}
		time.Sleep(300 * time.Millisecond)
	}

	d := loadDashboard(t)
	if d.UID != "silverback" || len(d.Panels) < 12 {
		t.Fatalf("dashboard uid %q with %d panels", d.UID, len(d.Panels))
	}
	// Template variables: evaluate each label_values() query as Grafana
	// does (/api/v1/label/<name>/values?match[]=...), require values and
	// select all of them as a regex alternation.
	vars := map[string]string{}
	lv := regexp.MustCompile(`^label_values\((?:(.+),\s*)?(\w+)\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := ""
		switch x := v.Query.(type) {
		case string:
			q = x
		case map[string]any:
			q, _ = x["query"].(string)
		}
		m := lv.FindStringSubmatch(strings.TrimSpace(grafanaVars(q, 0, 0, 0, vars)))
		if m == nil {
			t.Fatalf("template variable %s: query %q is not label_values(...)", v.Name, q)
		}
		p := url.Values{}
		if m[1] != "" {
			p.Set("match[]", m[1])
		}
		code, body, err := httpGet(s.base + "/api/v1/label/" + m[2] + "/values?" + p.Encode())
		if err != nil || code != 200 {
			t.Fatalf("template variable %s: %d %s %v", v.Name, code, body, err)
		}
		var lr struct{ Data []string }
		if err := json.Unmarshal(body, &lr); err != nil || len(lr.Data) == 0 {
			t.Fatalf("template variable %s (%s): no values: %s", v.Name, q, body)
		}
		// Grafana's Prometheus data source escapes regex metacharacters
		// of multi-value variables with a backslash, doubled in the
		// PromQL string literal.
		for i := range lr.Data {
			lr.Data[i] = strings.ReplaceAll(regexp.QuoteMeta(lr.Data[i]), `\`, `\\`)
		}
		vars[v.Name] = strings.Join(lr.Data, "|")
	}
	if !strings.Contains(vars["job"], "tsdb") {
		t.Fatalf("template variable job = %q, want the self-scrape job tsdb", vars["job"])
	}

	end := time.Now()
	const rangeDur, step = 30 * time.Second, 2 * time.Second
	var empty []string
	targets := 0
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no targets", p.ID, p.Title)
		}
		for _, tg := range p.Targets {
			targets++
			expr := grafanaVars(tg.Expr, step, scrape, rangeDur, vars)
			if leftoverVar.MatchString(expr) {
				t.Errorf("panel %q target %s: unexpanded variable in %s", p.Title, tg.RefID, expr)
				continue
			}
			r, err := api(ctx, s.base, "/api/v1/query_range", url.Values{
				"query": {expr},
				"start": {strconv.FormatInt(end.Add(-rangeDur).Unix(), 10)},
				"end":   {strconv.FormatInt(end.Unix(), 10)},
				"step":  {strconv.FormatInt(int64(step/time.Second), 10)},
			})
			if err != nil {
				t.Errorf("panel %q target %s: %v\n  expr: %s", p.Title, tg.RefID, err, expr)
				continue
			}
			if finitePoints(r) == 0 {
				empty = append(empty, fmt.Sprintf("%q/%s: %s", p.Title, tg.RefID, expr))
			}
		}
	}
	if len(empty) > 0 {
		t.Errorf("%d of %d dashboard targets returned no data:\n  %s", len(empty), targets, strings.Join(empty, "\n  "))
	}
	if !t.Failed() {
		t.Logf("%d panels, %d targets evaluated, each with data", len(d.Panels), targets)
	}
}

func TestGrafanaVars(t *testing.T) {
	got := grafanaVars(`rate(x{job=~"$job", i=~"${instance}"}[$__rate_interval]) / $__range_s + increase(y[$__range]) [$__interval]`,
		2*time.Second, time.Second, 30*time.Second, map[string]string{"job": "tsdb", "instance": "a|b"})
	want := `rate(x{job=~"tsdb", i=~"a|b"}[4s]) / 30 + increase(y[30s]) [2s]`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
