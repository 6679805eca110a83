package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/httpfasttest"
	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// realServer wires the UI the way `tsdb start` does — a database, the
// server with its real query API, the UI — and loads six hours of data
// over the HTTP import endpoint: node_cpu_seconds_total for 4 CPUs of 2
// instances (counters, a sample every 30 s), http_requests_total for 3
// codes and a gauge, room_temperature_celsius. A forced head cut moves the older part into blocks.
func realServer(t *testing.T) (base string, db *pipeline.DB, end time.Time) {
	t.Helper()
	reg := prometheus.NewRegistry()
	db, err := pipeline.Open(t.TempDir(), pipeline.Options{Shards: 2, WAL: walseg.Options{Sync: walseg.SyncNone}, Registerer: reg})
	require.NoError(t, err)
	srv, err := httpfast.New(httpfast.Options{Logger: zaptest.NewLogger(t), Registerer: reg, Gatherer: reg})
	require.NoError(t, err)
	require.NoError(t, Register(srv))
	srv.SetStorage(db)
	srv.SetQueryBackend(&httpfast.QueryBackend{DB: db, Engine: e2eEngine(t, db), Status: httpfast.StatusInfo{
		Flags: map[string]string{"listen": "127.0.0.1:0", "data-dir": db.Dir()}, StartTime: time.Now(), Retention: "unlimited",
	}})
	t.Cleanup(func() { require.NoError(t, db.Close()) }) // after the server's shutdown
	base = "http://" + httpfasttest.Serve(t, srv)

	end = time.Now().Truncate(30 * time.Second)
	// The server's own metrics, as its self-scrape stores them, at a few
	// past times, so the cardinality page's growth chart has a history
	// (each scrape adds the tsdb_* series the one before created). They go
	// first: once the data below arrives they would be older than the
	// head's window.
	so := httpfast.SelfScrapeOptions{Gatherer: reg, Job: "tsdb", Instance: strings.TrimPrefix(base, "http://")}
	for _, ago := range []time.Duration{20 * time.Hour, 12 * time.Hour, 7 * time.Hour, 3 * time.Hour} {
		require.NoError(t, srv.SelfScrapeOnce(context.Background(), so, end.Add(-ago)))
	}
	var body bytes.Buffer
	for ts := end.Add(-6 * time.Hour); !ts.After(end); ts = ts.Add(30 * time.Second) {
		k := float64(ts.Sub(end.Add(-6*time.Hour)) / (30 * time.Second)) // sample number
		for _, inst := range []string{"a", "b"} {
			for cpu := range 4 {
				fmt.Fprintf(&body, "node_cpu_seconds_total{job=\"node\",instance=%q,cpu=\"%d\",mode=\"user\"} %g %d\n", inst, cpu, k*float64(cpu+1)*3, ts.UnixMilli())
			}
		}
		fmt.Fprintf(&body, "room_temperature_celsius{job=\"env\",room=\"lab\"} %g %d\n", 20+k/720, ts.UnixMilli())
		for i, code := range []string{"200", "404", "500"} {
			fmt.Fprintf(&body, "http_requests_total{job=\"api\",code=%q} %g %d\n", code, k*float64(10-3*i), ts.UnixMilli())
		}
	}
	resp, err := http.Post(base+"/api/v1/import/prometheus", "text/plain", &body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.NoError(t, db.Compact(context.Background(), true))
	require.NoError(t, srv.SelfScrapeOnce(context.Background(), so, end))
	return base, db, end
}

// humanInt formats n as toLocaleString does in an en-US browser.
func humanInt(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// apiGet fetches an API path and decodes data.
func apiGet(t *testing.T, url string, data any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	require.Equal(t, "success", env.Status, url)
	require.NoError(t, json.Unmarshal(env.Data, data))
}

// TestBrowser_EndToEnd drives every page against the real API and the
// real database, comparing what the pages show with what the API says.
func TestBrowser_EndToEnd(t *testing.T) {
	base, _, _ := realServer(t)
	var blocks struct {
		Blocks []struct{ ULID string } `json:"blocks"`
	}
	apiGet(t, base+"/api/v1/status/tsdb/blocks", &blocks)
	require.NotEmpty(t, blocks.Blocks, "the forced head cut wrote no block")

	b := newBrowser(t, base, 1280, 800)
	b.open("/explore")
	b.wait(`#label-names li[data-name="instance"] .count`) // drawn again when the counts arrive
	b.click(`#label-names li[data-name="instance"]`)
	b.click(`#label-values li[data-value="b"]`)
	b.do("series", pollJS(`document.getElementById('series').dataset.count === '4'`))
	b.screenshot("e2e-explore")

	b.open("/cardinality")
	b.wait("#top-metrics")
	// The page's table is the API's, row for row.
	var card struct {
		ByName []struct {
			Name  string
			Value int
		} `json:"seriesCountByMetricName"`
	}
	apiGet(t, base+"/api/v1/status/tsdb?limit=10", &card)
	got := cells(b, "#top-metrics tr")
	if len(got) != len(card.ByName) {
		t.Fatalf("top metrics %q, the API %v", got, card.ByName)
	}
	for i, r := range card.ByName {
		if got[i][0] != r.Name || got[i][1] != humanInt(r.Value) {
			t.Errorf("top metric %d: %q, the API %v", i, got[i][:2], r)
		}
	}
	var series struct {
		HeadStats struct{ NumSeries int } `json:"headStats"`
	}
	apiGet(t, base+"/api/v1/status/tsdb", &series)
	if s := b.text("#num-series"); s != fmt.Sprintf("%d", series.HeadStats.NumSeries) && s != humanInt(series.HeadStats.NumSeries) {
		t.Errorf("head series %q, the API says %d", s, series.HeadStats.NumSeries)
	}
	// The growth chart: sum(tsdb_head_series) from the self-scrapes.
	b.wait(`.growth .sb-chart[data-series="1"]`)
	if n := evalJS[int](b, `Number(document.querySelector('.growth .sb-chart').dataset.points)`); n < 4 {
		t.Errorf("growth chart drew %d points, want the 5 self-scrapes' (at 5m steps, within the 5m lookback)", n)
	}
	b.fullScreenshot("e2e-cardinality")

	b.open("/status")
	b.wait("#blocks-table")
	if rows := cells(b, "#blocks-table tbody tr"); len(rows) != len(blocks.Blocks) {
		t.Errorf("status shows %d blocks, the API %d", len(rows), len(blocks.Blocks))
	}
	b.wait("#head-table")
	for _, r := range cells(b, "#head-table tr") {
		if r[0] == "Chunks" && strings.HasPrefix(r[1], "-") {
			t.Errorf("head chunks shown as %q", r[1])
		}
	}
	b.wait("#build-table")
	b.wait("#counters-list")
	if s := b.text("#counters-list"); !strings.Contains(s, "tsdb_ingest_samples_total") {
		t.Errorf("counters lack the ingest counter: %q", s)
	}
	b.fullScreenshot("e2e-status")
	e2eQuery(t, b)
}
