package ui

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowser_JSUnits runs the UI's pure functions (value and duration
// formatting, the autocomplete context, parse-error positions, the step
// choice) in the browser, case by case, on the modules the server embeds.
func TestBrowser_JSUnits(t *testing.T) {
	b := newBrowser(t, testServer(t, nil), 1280, 800)
	b.open("/query")
	call := func(module, expr string) string {
		t.Helper()
		js := `(async () => {
			const base = document.querySelector('script[type=module]').src.replace(/app\.js$/, '');
			const m = await import(base + '` + module + `');
			return JSON.stringify(` + expr + `);
		})()`
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %s: %v", module, expr, err)
		}
		return s
	}
	for _, c := range []struct{ module, expr, want string }{
		{"format.js", `m.formatValue(1234, 'si')`, `"1.23k"`},
		{"format.js", `m.formatValue(-2500000, 'si')`, `"-2.5M"`},
		{"format.js", `m.formatValue(999, 'si')`, `"999"`},
		{"format.js", `m.formatValue(0.5, 'si')`, `"0.5"`},
		{"format.js", `m.formatValue(0.0012, 'si')`, `"1.2m"`},
		{"format.js", `m.formatValue(0.0000035, 'si')`, `"3.5µ"`},
		{"format.js", `m.formatValue(1536, 'bin')`, `"1.5Ki"`},
		{"format.js", `m.formatValue(1048576, 'bin')`, `"1Mi"`},
		{"format.js", `m.formatValue(0, 'si')`, `"0"`},
		{"format.js", `m.formatValue(NaN, 'si')`, `"NaN"`},
		{"format.js", `m.formatValue(-Infinity, 'si')`, `"-Inf"`},
		{"format.js", `m.formatValue(1234.5678, 'none')`, `"1234.57"`},
		{"format.js", `['1h30m', '5m', '2d', '90', '1w', '250ms'].map(m.parseDuration)`, `[5400,300,172800,90,604800,0.25]`},
		{"format.js", `['bogus', '', '1h 30m', '5x'].map(m.parseDuration)`, `[null,null,null,null]`},
		{"format.js", `[5400, 59, 0.25, 86400 * 8].map(m.formatDuration)`, `["1h30m","59s","250ms","1w1d"]`},
		{"format.js", `m.formatSeries({__name__: 'up', job: 'a"b', instance: 'x'})`, `"up{instance=\"x\", job=\"a\\\"b\"}"`},
		{"format.js", `m.formatSeries({})`, `"{}"`},
		{"format.js", `m.formatTime(Date.UTC(2026, 11, 3, 7, 5, 9), true)`, `"2026-12-03 07:05:09Z"`},
		{"complete.js", `m.context('rate(node_c', 11)`, `{"kind":"metric","prefix":"node_c","from":5}`},
		{"complete.js", `m.context('up{', 3)`, `{"kind":"label","prefix":"","from":3,"metric":"up"}`},
		{"complete.js", `m.context('foo{a="x", jo', 13)`, `{"kind":"label","prefix":"jo","from":11,"metric":"foo"}`},
		{"complete.js", `m.context('up{job="no', 10)`, `{"kind":"value","label":"job","prefix":"no","from":8,"metric":"up","quote":"\""}`},
		{"complete.js", `m.context('{job!~"a|b', 10)`, `{"kind":"value","label":"job","prefix":"a|b","from":7,"metric":"","quote":"\""}`},
		{"complete.js", `m.context('sum by (j', 9)`, `{"kind":"label","prefix":"j","from":8,"metric":""}`},
		{"complete.js", `m.context('sum(rate(x[5m])) without (', 26)`, `{"kind":"label","prefix":"","from":26,"metric":""}`},
		{"complete.js", `m.context('up[5', 4)`, `{"kind":"none"}`},
		{"complete.js", `m.context('up{job="a"} + node', 18)`, `{"kind":"metric","prefix":"node","from":14}`},
		{"complete.js", `m.context('up{job="a"}', 11)`, `{"kind":"metric","prefix":"","from":11}`},
		{"complete.js", `m.context('label_replace(up, "dst', 21)`, `{"kind":"none"}`},
		{"complete.js", `m.context('up{job=', 7)`, `{"kind":"none"}`},
		{"complete.js", `m.context('up > 1', 6)`, `{"kind":"none"}`},
		{"api.js", `m.parseErrorPos('invalid parameter "query": 1:17: parse error: unclosed left parenthesis', 'sum(rate(up[5m])')`, `16`},
		{"api.js", `m.parseErrorPos('2:3: parse error: unexpected', 'ab\ncdef')`, `5`},
		{"api.js", `m.parseErrorPos('no position here', 'x')`, `-1`},
		{"query.js", `[m.stepFor(3600, {step: '', res: 'medium'}), m.stepFor(3600, {step: '30s', res: 'medium'}), m.stepFor(60, {step: '', res: 'high'}), m.stepFor(86400, {step: 'x', res: 'low'})]`, `[9,30,1,576]`},
	} {
		if got := call(c.module, c.expr); got != c.want {
			t.Errorf("%s: %s = %s, want %s", c.module, c.expr, got, c.want)
		}
	}
}
