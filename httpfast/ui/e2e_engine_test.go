package ui

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/queryexec"
)

// e2eEngine is the PromQL engine `tsdb start` wires into the query API.
func e2eEngine(_ *testing.T, db *pipeline.DB) httpfast.Engine {
	return queryexec.NewEngine(db, queryexec.Options{})
}

// e2eQuery drives the query page against the real engine: autocomplete
// from the real label values, a range query graphed and hovered, an
// instant query tabled, a syntax error from the real parser.
func e2eQuery(t *testing.T, b *browser) {
	t.Helper()
	b.open("/query")
	b.do("type", chromedp.SendKeys(chromedp.CSS("#expr"), "node_c"))
	b.wait(".sb-complete li")
	if s := b.text(".sb-complete li.sel .ac-text"); s != "node_cpu_seconds_total" {
		t.Fatalf("first completion %q", s)
	}
	b.do("accept", chromedp.KeyEvent("\t"))
	b.do("type the rest", chromedp.KeyEvent(`{instance="a"}[5m]`))
	// The counters rise (cpu+1)*3 per 30 s: rate (cpu+1)/10 per second.
	b.do("wrap in rate", chromedp.SetValue(chromedp.CSS("#expr"), `rate(node_cpu_seconds_total{instance="a"}[5m])`), chromedp.Focus(chromedp.CSS("#expr")), enter())
	b.wait(`.sb-chart[data-series="4"]`)
	x, y := b.center(".sb-canvas")
	b.do("hover", chromedp.MouseEvent(chromedp.MouseMoved, x, y))
	b.wait(".sb-tooltip")
	var vals []float64
	for _, line := range strings.Split(b.text(".sb-tooltip"), "\n") {
		if v, err := strconv.ParseFloat(strings.TrimSpace(line), 64); err == nil {
			vals = append(vals, v)
		}
	}
	want := []float64{0.4, 0.3, 0.2, 0.1} // highest first
	if len(vals) != 4 {
		t.Fatalf("tooltip values %v, want %v", vals, want)
	}
	for i := range want {
		if math.Abs(vals[i]-want[i]) > 1e-9 {
			t.Errorf("tooltip value %d = %v, want %v", i, vals[i], want[i])
		}
	}
	b.screenshot("e2e-query-graph")

	b.do("instant", chromedp.SetValue(chromedp.CSS("#expr"), `sort_desc(node_cpu_seconds_total{instance="b"})`), chromedp.Focus(chromedp.CSS("#expr")))
	b.click("#tab-table")
	b.wait("#result-table")
	rows := cells(b, "#result-table tbody tr")
	// 720 samples after the first, each cpu's counter at 720*(cpu+1)*3.
	if len(rows) != 4 || rows[0][1] != "8640" || rows[3][1] != "2160" {
		t.Errorf("instant table %q, want 4 rows from 8640 down to 2160", rows)
	}
	b.screenshot("e2e-query-table")

	// The engine's infos are shown beside the result: rate() of a metric
	// whose name says it is no counter.
	b.do("rate of a gauge", chromedp.SetValue(chromedp.CSS("#expr"), `rate(room_temperature_celsius[5m])`), chromedp.Focus(chromedp.CSS("#expr")), enter())
	b.wait("#notes")
	if s := b.text("#notes"); !strings.Contains(s, "info: ") || !strings.Contains(s, "might not be a counter") {
		t.Errorf("notes %q, want the engine's info that the metric might not be a counter", s)
	}

	// A syntax error from the real parser, marked where it reports it.
	b.mu.Lock()
	b.expect400 = true // the query itself is answered 400
	b.mu.Unlock()
	const bad = `sum(rate(node_cpu_seconds_total[5m]) by (cpu`
	b.do("bad query", chromedp.SetValue(chromedp.CSS("#expr"), bad), chromedp.Focus(chromedp.CSS("#expr")), enter())
	b.wait("#error #errmark")
	msg := b.text("#error .msg")
	pos := evalJS[string](b, `document.getElementById('error').dataset.pos`)
	// Prometheus's parser: 1:38: parse error: unexpected <by> in
	// aggregation — offset 37, the "b" of "by".
	if !strings.Contains(msg, "1:38: parse error") || pos != "37" || b.text("#errmark") != "b" {
		t.Errorf("error %q marked at %q (%q), want 1:38 at offset 37 on the b of by", msg, pos, b.text("#errmark"))
	}
	b.screenshot("e2e-query-error")
}
