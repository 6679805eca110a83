package ui

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browser is one headless Chromium tab on a test server, collecting the
// page's console errors and uncaught exceptions (every test fails on any).
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	mu   sync.Mutex
	errs []string
	// expect400 accepts the browser's network log entries for API calls
	// answered 400: tests of bad queries expect them.
	expect400 bool
}

// chromiumPath finds Debian's chromium (installed by .ci/run) or skips.
func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("no chromium on this machine: the browser tests need Debian's chromium package (apt-get install -y chromium; .ci/run installs it)")
	return ""
}

func newBrowser(t *testing.T, base string, width, height int64) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(int(width), int(height)),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, base: base}
	t.Cleanup(func() {
		cancelC()
		cancelA()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errs {
			t.Errorf("browser: %s", e)
		}
	})
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.addErr("console." + string(e.Type) + ": " + strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.addErr(fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				b.addErr("log: " + e.Entry.Text + " " + e.Entry.URL)
			}
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable runtime events: %v", err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable log events: %v", err)
	}
	b.do("viewport", chromedp.EmulateViewport(width, height))
	return b
}

func (b *browser) addErr(s string) {
	b.mu.Lock()
	// Chrome logs every non-2xx fetch. A 400 from parse_query is the
	// live syntax check's answer about text still being typed, not an
	// error of the page; other 400s only where a test sends a bad query.
	is400 := strings.HasPrefix(s, "log: Failed to load resource: the server responded with a status of 400")
	if is400 && (strings.Contains(s, "/api/v1/parse_query?") || b.expect400 && strings.Contains(s, "/api/v1/")) {
		b.mu.Unlock()
		return
	}
	b.errs = append(b.errs, s)
	b.mu.Unlock()
}

// stepTimeout bounds one browser step: generous, because CI machines and
// -race slow the page and the server down many times over.
const stepTimeout = 60 * time.Second

// do runs steps with a time bound and fails the test on error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(`html[data-ready="1"]`)))
}

// wait waits until the CSS selector matches a visible element.
func (b *browser) wait(sel string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// evalJS evaluates js in the page and decodes its JSON value.
func evalJS[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

// center returns the page coordinates of the middle of the element sel.
func (b *browser) center(sel string) (x, y float64) {
	b.t.Helper()
	r := evalJS[[]float64](b, fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return [r.left + r.width/2, r.top + r.height/2]; })()`, sel))
	return r[0], r[1]
}

// screenshot saves a PNG of the page under the test's artefact directory
// (go test -artifacts keeps them) and, with UI_SCREENSHOTS=dir, there too.
func (b *browser) screenshot(name string) { b.shot(name, chromedp.CaptureScreenshot()) }

// fullScreenshot saves the whole page, below the fold too.
func (b *browser) fullScreenshot(name string) { b.shot(name, chromedp.FullScreenshot(100)) }

func (b *browser) shot(name string, capture chromedp.Action[[]byte]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, capture)
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	dirs := []string{b.t.ArtifactDir()}
	if d := os.Getenv("UI_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

func q(expr string, extra ...string) string {
	v := url.Values{"expr": {expr}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return "/query?" + v.Encode()
}

func TestBrowser_QueryGraph(t *testing.T) {
	b := newBrowser(t, testServer(t, nil), 1280, 800)
	b.open(q("up"))
	b.wait(`.sb-chart[data-series="3"]`)
	if n := evalJS[int](b, `document.querySelectorAll('.sb-legend li').length`); n != 3 {
		t.Fatalf("legend has %d entries, want 3", n)
	}
	if s := b.text("#stats"); !strings.HasPrefix(s, "3 series") {
		t.Errorf("stats %q, want 3 series", s)
	}
	// Hover in the middle of the plot: the tooltip lists the three values
	// at the cursor, highest first.
	x, y := b.center(".sb-canvas")
	b.do("hover", chromedp.MouseEvent(chromedp.MouseMoved, x, y))
	b.wait(".sb-tooltip")
	tip := b.text(".sb-tooltip")
	for _, want := range []string{"up{instance=\"c\", job=\"node\"}\n3\n", "up{instance=\"b\", job=\"node\"}\n2\n", "up{instance=\"a\", job=\"node\"}\n1"} {
		if !strings.Contains(tip, want) {
			t.Errorf("tooltip %q lacks %q", tip, want)
		}
	}
	if strings.Contains(tip, "null") {
		t.Errorf("tooltip shows a null: %q", tip)
	}
	if i, j := strings.Index(tip, `instance="c"`), strings.Index(tip, `instance="a"`); i > j {
		t.Errorf("tooltip not sorted by value, highest first: %q", tip)
	}
	b.screenshot("query-graph")
	// The legend toggles a series off; shift-click shows one alone.
	b.click(`.sb-legend li[data-index="0"]`)
	b.wait(`.sb-chart[data-series="2"]`)
	lx, ly := b.center(`.sb-legend li[data-index="2"]`)
	b.do("shift-click", chromedp.MouseClickXY(lx, ly, chromedp.ButtonModifiers(chromedp.ModifierShift)))
	b.wait(`.sb-chart[data-series="1"]`)

	// First render time and page weight, as a Lighthouse run would report.
	type perf struct {
		FirstRender float64 `json:"firstRender"`
		FirstGraph  float64 `json:"firstGraph"`
		Transfer    float64 `json:"transfer"`
		Decoded     float64 `json:"decoded"`
		Resources   int     `json:"resources"`
	}
	p := evalJS[perf](b, `(() => {
		const m = performance.getEntriesByName('sb-first-render')[0];
		const rs = performance.getEntriesByType('resource').filter((r) => r.name.includes('/ui/static/'));
		const nav = performance.getEntriesByType('navigation')[0];
		const g = performance.getEntriesByName('sb-first-graph')[0];
		return {firstRender: m ? m.startTime : -1, firstGraph: g ? g.startTime : -1,
			transfer: rs.reduce((a, r) => a + r.transferSize, nav.transferSize),
			decoded: rs.reduce((a, r) => a + r.decodedBodySize, nav.decodedBodySize),
			resources: rs.length + 1};
	})()`)
	if p.FirstRender <= 0 {
		t.Errorf("no sb-first-render mark: the app did not finish its first render")
	}
	if p.FirstGraph < p.FirstRender {
		t.Errorf("no sb-first-graph mark after the first render (%v, %v)", p.FirstRender, p.FirstGraph)
	}
	t.Logf("query page: first render %.0f ms, first graph %.0f ms after navigation start; page weight %d requests, %.0f bytes transferred, %.0f decoded",
		p.FirstRender, p.FirstGraph, p.Resources, p.Transfer, p.Decoded)
}

// enter presses Enter as a real keyboard does: one keyDown carrying the
// text, so a handler that calls preventDefault stops the newline.
// (kb.Enter sends a separate char event, which inserts the newline
// whatever the page's keydown handler did.)
func enter() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter",
			WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13, Text: "\r", UnmodifiedText: "\r"}
		if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
		_, err := chromedp.Call(ctx, input.DispatchKeyEvent, up)
		return err
	})
}

// fmtSscan reads "<value> @<seconds>" from a raw-sample line.
func fmtSscan(line string, v, ts *float64) (int, error) {
	return fmt.Sscanf(line, "%g @%g", v, ts)
}

// pollJS waits until the JavaScript predicate is true.
func pollJS(pred string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](pred, chromedp.WithPollingTimeout(stepTimeout))
}
