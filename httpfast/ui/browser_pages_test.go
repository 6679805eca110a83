package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/crypto/bcrypt"

	"github.com/silverback-tsdb/tsdb/httpfast"
)

// cells returns the text of every cell of the table rows matching sel.
func cells(b *browser, sel string) [][]string {
	b.t.Helper()
	return evalJS[[][]string](b, `[...document.querySelectorAll(`+"`"+sel+"`"+`)].map((tr) => [...tr.children].map((td) => td.innerText))`)
}

func TestBrowser_TableInstantAndRawSamples(t *testing.T) {
	b := newBrowser(t, testServer(t, nil), 1280, 800)
	b.open(q("up", "tab", "table"))
	b.wait("#result-table")
	got := cells(b, "#result-table tbody tr")
	want := [][]string{{`up{instance="a", job="node"}`, "1"}, {`up{instance="b", job="node"}`, "2"}, {`up{instance="c", job="node"}`, "3"}}
	if len(got) != len(want) {
		t.Fatalf("table rows %q, want %q", got, want)
	}
	for i := range want {
		if got[i][0] != want[i][0] || got[i][1] != want[i][1] {
			t.Errorf("row %d: %q, want %q", i, got[i], want[i])
		}
	}
	if s := b.text("#stats"); !strings.HasPrefix(s, "vector, 3 results") {
		t.Errorf("stats %q", s)
	}
	b.screenshot("query-table")

	// A range selector in the table shows every raw sample with its time.
	b.open(q(`node_cpu_seconds_total{cpu="1"}[5m]`, "tab", "table"))
	b.wait("#result-table td.samples")
	rows := cells(b, "#result-table tbody tr")
	if len(rows) != 1 {
		t.Fatalf("raw-sample rows: %q, want one series", rows)
	}
	lines := strings.Split(strings.TrimSpace(rows[0][1]), "\n")
	if len(lines) != 5 {
		t.Fatalf("raw samples %q: want 5 (one a minute over 5m)", lines)
	}
	for _, l := range lines {
		// "<value> @<unix seconds> <time>": the fake's value is t/1000+100.
		var v, ts float64
		if _, err := fmtSscan(l, &v, &ts); err != nil {
			t.Fatalf("raw sample line %q: %v", l, err)
		}
		if v != ts/1000+100 {
			t.Errorf("sample %q: value %v at %v, want %v", l, v, ts, ts/1000+100)
		}
	}
}

func TestBrowser_AutocompleteTypeRunAndShareURL(t *testing.T) {
	b := newBrowser(t, testServer(t, nil), 1280, 800)
	b.open("/query")
	b.do("type a metric prefix", chromedp.SendKeys(chromedp.CSS("#expr"), "node_c"))
	b.wait(".sb-complete li")
	if s := b.text(".sb-complete li.sel"); !strings.HasPrefix(s, "node_cpu_seconds_total") {
		t.Fatalf("first completion %q, want the metric node_cpu_seconds_total", s)
	}
	b.screenshot("query-autocomplete")
	b.do("accept", chromedp.KeyEvent(kb.Tab))
	val := func() string { return evalJS[string](b, `document.getElementById('expr').value`) }
	if v := val(); v != "node_cpu_seconds_total" {
		t.Fatalf("after Tab the editor holds %q", v)
	}
	// Label names of that metric, then its values.
	b.do("open a selector", chromedp.KeyEvent("{"))
	b.wait(`.sb-complete li[data-kind="label"]`)
	labels := evalJS[[]string](b, `[...document.querySelectorAll('.sb-complete li .ac-text')].map((e) => e.textContent)`)
	if strings.Join(labels, ",") != "cpu,instance,job" {
		t.Fatalf("label completions %q, want cpu,instance,job", labels)
	}
	b.do("accept label", enter())
	b.do("type =\"", chromedp.KeyEvent(`="`))
	b.wait(`.sb-complete li[data-kind="value"]`)
	values := evalJS[[]string](b, `[...document.querySelectorAll('.sb-complete li .ac-text')].map((e) => e.textContent)`)
	if strings.Join(values, ",") != "0,1" {
		t.Fatalf("value completions %q, want 0,1", values)
	}
	b.do("pick the second", chromedp.KeyEvent(kb.ArrowDown), enter())
	b.do("close", chromedp.KeyEvent(`"}`))
	if v := val(); v != `node_cpu_seconds_total{cpu="1"}` {
		t.Fatalf("editor holds %q", v)
	}
	// Enter runs the query; the URL then holds it.
	b.do("run", enter())
	b.wait(`.sb-chart[data-series="1"]`)
	loc := evalJS[string](b, `location.pathname + location.search`)
	if !strings.Contains(loc, "expr=node_cpu_seconds_total%7Bcpu%3D%221%22%7D") {
		t.Fatalf("URL %q does not hold the query", loc)
	}
	// The URL alone restores the page: query, mode and graph.
	b.do("reload", chromedp.Navigate(b.base+loc))
	b.wait(`.sb-chart[data-series="1"]`)
	if v := val(); v != `node_cpu_seconds_total{cpu="1"}` {
		t.Fatalf("after reload the editor holds %q", v)
	}
	// Ctrl+Enter runs too, also in table mode.
	b.click("#tab-table")
	b.wait("#result-table")
	if !strings.Contains(evalJS[string](b, `location.search`), "tab=table") {
		t.Errorf("table mode is not in the URL")
	}
}

func TestBrowser_SyntaxErrorAtPosition(t *testing.T) {
	b := newBrowser(t, testServer(t, nil), 1280, 800)
	b.mu.Lock()
	b.expect400 = true
	b.mu.Unlock()
	b.open("/query")
	const bad = `sum(rate(up[5m])`
	b.do("type", chromedp.SendKeys(chromedp.CSS("#expr"), bad))
	b.wait("#error #errmark")
	// Prometheus's parser reports this at 1:17 (the end of the input),
	// which is offset 16.
	if pos := evalJS[string](b, `document.getElementById('error').dataset.pos`); pos != "16" {
		t.Errorf("error marked at %s, want 16; message %q", pos, b.text("#error .msg"))
	}
	if msg := b.text("#error .msg"); !strings.Contains(msg, "1:17: parse error: unclosed left parenthesis") {
		t.Errorf("message %q does not carry the parser's position", msg)
	}
	b.screenshot("query-syntax-error")
	// Fixing the query clears the error.
	b.do("fix", chromedp.SendKeys(chromedp.CSS("#expr"), ")"))
	b.do("wait for clear", chromedp.WaitNotVisible(chromedp.CSS("#error")))

	// An error in the middle: the mark sits on the offending character.
	b.open(q("up + * 2"))
	b.wait("#error #errmark")
	if m := b.text("#errmark"); m != "*" {
		t.Errorf("marked %q, want the '*'", m)
	}
}

func TestBrowser_ZoomByDrag(t *testing.T) {
	b := newBrowser(t, testServer(t, nil), 1280, 800)
	b.open(q("up"))
	b.wait(`.sb-chart[data-series="3"]`)
	box := evalJS[[]float64](b, `(() => { const r = document.querySelector('.sb-canvas').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
	// The plot spans the canvas minus the axis label margin; drag over
	// about the middle half.
	x0, x1, y := box[0]+box[2]*0.3, box[0]+box[2]*0.7, box[1]+box[3]/2
	b.do("drag",
		chromedp.MouseEvent(chromedp.MouseMoved, x0, y),
		chromedp.MouseEvent(chromedp.MousePressed, x0, y, chromedp.Button("left")),
		chromedp.MouseEvent(chromedp.MouseMoved, (x0+x1)/2, y, chromedp.Button("left")),
		chromedp.MouseEvent(chromedp.MouseMoved, x1, y, chromedp.Button("left")),
		chromedp.MouseEvent(chromedp.MouseReleased, x1, y, chromedp.Button("left")))
	b.do("wait for the zoomed query", chromedp.Poll[chromedp.Void](`document.getElementById('range').value !== '1h'`, chromedp.WithPollingTimeout(10*time.Second)))
	r, err := time.ParseDuration(evalJS[string](b, `document.getElementById('range').value`))
	if err != nil {
		t.Fatal(err)
	}
	if r < 20*time.Minute || r > 26*time.Minute {
		t.Errorf("zoomed range %v, want about 40%% of an hour", r)
	}
	if loc := evalJS[string](b, `location.search`); !strings.Contains(loc, "range=") || !strings.Contains(loc, "end=") {
		t.Errorf("zoom not in the URL: %q", loc)
	}
	b.wait(`.sb-chart[data-series="3"]`)
	// Back returns to the hour.
	b.do("back", chromedp.NavigateBack())
	b.do("wait for 1h", chromedp.Poll[chromedp.Void](`document.getElementById('range').value === '1h'`, chromedp.WithPollingTimeout(10*time.Second)))
}

func TestBrowser_ManySeriesStackedAndNotes(t *testing.T) {
	b := newBrowser(t, testServer(t, nil), 1280, 800)
	b.open(q("many"))
	b.wait(`.sb-chart[data-series="150"]`)
	colours := evalJS[int](b, `new Set([...document.querySelectorAll('.sb-legend .sw')].map((e) => e.style.background)).size`)
	if colours != 150 {
		t.Errorf("%d distinct colours for 150 series", colours)
	}
	b.screenshot("query-many-series")
	b.open(q("up", "stacked", "1"))
	b.wait(`.sb-chart[data-series="3"]`)
	x, y := b.center(".sb-canvas")
	b.do("hover", chromedp.MouseEvent(chromedp.MouseMoved, x, y))
	b.wait(".sb-tooltip")
	// The tooltip shows each series' own value, not the stacked sum.
	if tip := b.text(".sb-tooltip"); !strings.Contains(tip, "\n3\n") || strings.Contains(tip, "\n6") {
		t.Errorf("stacked tooltip %q", tip)
	}
	b.screenshot("query-stacked")
	b.open(q("warn_metric"))
	b.wait("#notes")
	if s := b.text("#notes"); !strings.Contains(s, "warning: fake warning") || !strings.Contains(s, "info: fake info") {
		t.Errorf("notes %q, want the warning and the info", s)
	}
}

func TestBrowser_Explore(t *testing.T) {
	b := newBrowser(t, testServer(t, nil), 1280, 800)
	b.open("/explore")
	// The list is drawn again when the counts arrive: wait for them, as a
	// user would, so the click does not land on a replaced node.
	b.wait(`#label-names li[data-name="job"] .count`)
	b.click(`#label-names li[data-name="job"]`)
	b.wait(`#label-values li[data-value="node"]`)
	if s := b.text(`#label-names li[data-name="job"] .count`); s != "2" {
		t.Errorf("job has %q values counted, want 2", s)
	}
	if s := b.text(`#label-values li[data-value="node"] .count`); s != "5" {
		t.Errorf("job=node counted %q series, want 5", s)
	}
	b.click(`#label-values li[data-value="node"]`)
	b.do("series", chromedp.Poll[chromedp.Void](`document.getElementById('series').dataset.count === '5'`, chromedp.WithPollingTimeout(10*time.Second)))
	series := evalJS[[]string](b, `[...document.querySelectorAll('#series li')].map((e) => e.textContent)`)
	if len(series) != 5 || series[0] != `up{instance="a", job="node"}` && !strings.Contains(strings.Join(series, " "), `up{instance="a", job="node"}`) {
		t.Errorf("series %q", series)
	}
	if loc := evalJS[string](b, `location.search`); loc != "?label=job&value=node" {
		t.Errorf("URL %q", loc)
	}
	b.screenshot("explore")
	// A series links to the query page.
	b.click(`#series li a`)
	b.wait(`.sb-chart[data-series="1"]`)
}

func TestBrowser_Cardinality(t *testing.T) {
	b := newBrowser(t, testServer(t, nil), 1280, 800)
	b.open("/cardinality")
	b.wait("#top-metrics")
	got := cells(b, "#top-metrics tr")
	if len(got) != 3 || got[0][0] != "up" || got[0][1] != "3" || got[1][0] != "node_cpu_seconds_total" || got[1][1] != "2" {
		t.Errorf("top metrics %q", got)
	}
	if s := b.text("#num-series"); s != "6" {
		t.Errorf("head series %q, want 6", s)
	}
	b.wait(`.growth .sb-chart[data-series="1"]`)
	b.screenshot("cardinality")
}

func TestBrowser_Status(t *testing.T) {
	b := newBrowser(t, testServer(t, nil), 1280, 800)
	b.open("/status")
	b.wait("#build-table")
	if s := b.text("#build-table"); !strings.Contains(s, "0.1.0-test") || !strings.Contains(s, "go1.26.8") {
		t.Errorf("build table %q", s)
	}
	b.wait("#runtime-table")
	rt := b.text("#runtime-table")
	for _, w := range []string{"Goroutines\t42", "Resident memory\t64MiB", "Uptime\t1h", "Data directory size\t5MiB"} {
		if !strings.Contains(rt, w) {
			t.Errorf("runtime table lacks %q: %q", w, rt)
		}
	}
	b.wait("#blocks-table")
	rows := cells(b, "#blocks-table tbody tr")
	if len(rows) != 2 || rows[0][1] != "0" || rows[1][1] != "1" || rows[0][5] != "1" || rows[1][5] != "2" || rows[0][10] != "1.50" || rows[1][10] != "1.20" {
		t.Errorf("blocks %q: want shards 0, 1, levels 1, 2 and 1.50, 1.20 bytes per sample", rows)
	}
	if s := b.text("#walreplay-state"); s != "replay finished" {
		t.Errorf("WAL replay %q", s)
	}
	b.wait("#counters-list")
	counters := b.text("#counters-list")
	for _, w := range []string{"tsdb_head_samples_appended_total\t123,456", "tsdb_append_samples_rejected_total\t10", `{reason="too_old"}` + "\t7", `{reason="out_of_order"}` + "\t3"} {
		if !strings.Contains(counters, w) {
			t.Errorf("counters lack %q: %q", w, counters)
		}
	}
	b.wait("#flags-table")
	b.screenshot("status")
	b.fullScreenshot("status-full")
}

func TestBrowser_NarrowAndDarkTheme(t *testing.T) {
	base := testServer(t, nil)
	b := newBrowser(t, base, 400, 860)
	b.open(q("up"))
	b.wait(`.sb-chart[data-series="3"]`)
	if w := evalJS[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
		t.Errorf("the query page scrolls sideways at 400px: %d > %d", w[0], w[1])
	}
	b.screenshot("query-narrow")
	for _, p := range []string{"/explore", "/status", "/cardinality"} {
		b.open(p)
		b.do("settle", chromedp.Sleep(300*time.Millisecond))
		if w := evalJS[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
			wide := evalJS[[]string](b, `[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth).slice(0, 5).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`)
			t.Errorf("%s scrolls sideways at 400px: %d > %d; widest: %q", p, w[0], w[1], wide)
		}
		b.screenshot(strings.TrimPrefix(p, "/") + "-narrow")
	}

	d := newBrowser(t, base, 1280, 800)
	d.do("dark", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}))
	d.open(q("up"))
	d.wait(`.sb-chart[data-series="3"]`)
	if bg := evalJS[string](d, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(20, 23, 28)" {
		t.Errorf("dark system theme: body background %q", bg)
	}
	d.screenshot("query-dark")
	// The theme button overrides the system: auto → light.
	d.click("#theme")
	if bg := evalJS[string](d, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(255, 255, 255)" {
		t.Errorf("light override: body background %q", bg)
	}
}

func TestBrowser_BasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	base := testServer(t, &httpfast.WebConfig{BasicAuthUsers: map[string]string{"admin": string(hash)}})
	b := newBrowser(t, base, 1280, 800)
	// The browser's credentials go with the page and with every API call
	// the page makes.
	b.do("credentials", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Authorization": "Basic YWRtaW46czNjcmV0"}}) // admin:s3cret
		return err
	}))
	b.open(q("up"))
	b.wait(`.sb-chart[data-series="3"]`)
}

func TestBrowser_RangeStepResolutionAndUTC(t *testing.T) {
	b := newBrowser(t, testServer(t, nil), 1280, 800)
	b.open(q("up"))
	b.wait(`.sb-chart[data-series="3"]`)
	if n := evalJS[int](b, `document.querySelectorAll('#range-presets option').length`); n != 12 {
		t.Errorf("%d range presets, want 12", n)
	}
	stats := func(want string) {
		t.Helper()
		b.do("stats "+want, pollJS(`document.getElementById('stats').textContent.includes(`+"`"+want+"`"+`)`))
	}
	stats("step 9s") // 1h / 400 points
	// A typed range runs at once with Enter; the step follows it.
	b.do("range 6h", chromedp.SetValue(chromedp.CSS("#range"), "6h"), chromedp.Focus(chromedp.CSS("#range")), enter())
	stats("step 54s") // 6h / 400
	if !strings.Contains(evalJS[string](b, `location.search`), "range=6h") {
		t.Errorf("range not in the URL: %s", evalJS[string](b, `location.search`))
	}
	// Resolution "high" is 1,000 points; an explicit step wins over it.
	b.do("high", chromedp.SetValue(chromedp.CSS("#res"), "high"), chromedp.Evaluate[chromedp.Void](`document.getElementById('res').dispatchEvent(new Event('change'))`))
	stats("step 22s")
	b.do("step 5m", chromedp.SetValue(chromedp.CSS("#step"), "5m"), chromedp.Focus(chromedp.CSS("#step")), enter())
	stats("step 5m")
	if pts := evalJS[int](b, `Number(document.querySelector('.sb-chart').dataset.points)`); pts < 3*72 || pts > 3*73 {
		t.Errorf("%d points drawn for 3 series over 6h at 5m, want 72 or 73 each", pts)
	}
	// UTC: the tooltip's time is marked Z.
	b.do("utc", chromedp.SetValue(chromedp.CSS("#tz"), "utc"), chromedp.Evaluate[chromedp.Void](`document.getElementById('tz').dispatchEvent(new Event('change'))`))
	b.wait(`.sb-chart[data-series="3"]`)
	x, y := b.center(".sb-canvas")
	b.do("hover", chromedp.MouseEvent(chromedp.MouseMoved, x, y))
	b.wait(".sb-tooltip")
	if s := b.text(".tt-time"); !strings.HasSuffix(s, "Z") {
		t.Errorf("UTC tooltip time %q", s)
	}
	if !strings.Contains(evalJS[string](b, `location.search`), "tz=utc") {
		t.Errorf("time zone not in the URL")
	}
}
