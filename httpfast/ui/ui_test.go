package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/crypto/bcrypt"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/httpfasttest"
)

// testServer serves the UI and the fake API on a loopback port and
// returns its base URL.
func testServer(t *testing.T, web *httpfast.WebConfig) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "tsdb_head_samples_appended_total", Help: "test"}).Add(123456)
	promauto.With(reg).NewGauge(prometheus.GaugeOpts{Name: "process_resident_memory_bytes", Help: "test"}).Set(64 << 20)
	rej := promauto.With(reg).NewCounterVec(prometheus.CounterOpts{Name: "tsdb_append_samples_rejected_total", Help: "test"}, []string{"reason"})
	rej.WithLabelValues("too_old").Add(7)
	rej.WithLabelValues("out_of_order").Add(3)
	srv, err := httpfast.New(httpfast.Options{Registerer: reg, Gatherer: reg, Web: web, DisableQueryAPI: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := Register(srv); err != nil {
		t.Fatal(err)
	}
	newFakeAPI().register(srv)
	return "http://" + httpfasttest.Serve(t, srv)
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	tr := &http.Transport{DisableCompression: true}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestRootRedirectsToQuery(t *testing.T) {
	base := testServer(t, nil)
	resp, _ := get(t, base+"/", nil)
	if resp.StatusCode != http.StatusFound || !strings.HasSuffix(resp.Header.Get("Location"), "/query") {
		t.Fatalf("GET /: %d Location %q, want 302 to /query", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = get(t, base+"/graph?expr=up", nil)
	if resp.StatusCode != http.StatusFound || !strings.HasSuffix(resp.Header.Get("Location"), "/query?expr=up") {
		t.Fatalf("GET /graph: %d Location %q, want 302 to /query?expr=up", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestPagesServeShellWithHashedAssets(t *testing.T) {
	base := testServer(t, nil)
	set, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Pages {
		resp, body := get(t, base+p, nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("ETag") == "" {
			t.Errorf("GET %s: Cache-Control %q ETag %q, want no-cache and an ETag", p, resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
		}
		if !bytes.Contains(body, []byte(set.Prefix+"app.js")) || bytes.Contains(body, []byte("{{STATIC}}")) {
			t.Errorf("GET %s: the shell does not reference %sapp.js", p, set.Prefix)
		}
	}
}

func TestAssetsCachedAndGzipped(t *testing.T) {
	base := testServer(t, nil)
	set, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	url := base + set.Prefix + "chart.js"
	plainResp, plain := get(t, url, nil)
	if plainResp.StatusCode != 200 || plainResp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("GET chart.js without Accept-Encoding: %d, encoding %q", plainResp.StatusCode, plainResp.Header.Get("Content-Encoding"))
	}
	if ct := plainResp.Header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type %q, want text/javascript (browsers refuse modules otherwise)", ct)
	}
	if cc := plainResp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("Cache-Control %q, want a year and immutable for a hashed asset", cc)
	}
	zResp, z := get(t, url, map[string]string{"Accept-Encoding": "gzip, br"})
	if zResp.Header.Get("Content-Encoding") != "gzip" || zResp.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("with Accept-Encoding gzip: encoding %q, vary %q", zResp.Header.Get("Content-Encoding"), zResp.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	unz, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unz, plain) || len(z) >= len(plain) {
		t.Fatalf("gzip body: %d bytes unzipping to %d; plain %d (want equal content, smaller)", len(z), len(unz), len(plain))
	}
	nm, body := get(t, url, map[string]string{"If-None-Match": plainResp.Header.Get("ETag")})
	if nm.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("If-None-Match with the ETag: %d and %d bytes, want 304 and none", nm.StatusCode, len(body))
	}
	if r, _ := get(t, base+set.Prefix+"nosuch.js", nil); r.StatusCode != 404 {
		t.Fatalf("unknown asset: %d, want 404", r.StatusCode)
	}
	if r, _ := get(t, base+"/ui/static/0000000000000000/chart.js", nil); r.StatusCode != 404 {
		t.Fatalf("asset under another hash: %d, want 404", r.StatusCode)
	}
}

func TestBasicAuthCoversUI(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	base := testServer(t, &httpfast.WebConfig{BasicAuthUsers: map[string]string{"admin": string(hash)}})
	set, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/query", set.Prefix + "app.js", "/api/v1/labels"} {
		resp, _ := get(t, base+p, nil)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without credentials: %d, WWW-Authenticate %q; want 401 with a challenge", p, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		req, _ := http.NewRequest("GET", base+p, nil)
		req.SetBasicAuth("admin", "s3cret")
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		r2, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if r2.StatusCode >= 400 {
			t.Errorf("GET %s with credentials: %d", p, r2.StatusCode)
		}
	}
}

func TestAssetSizes(t *testing.T) {
	set, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	raw, gz := 0, 0
	sizes := set.Sizes()
	for _, n := range slices.Sorted(maps.Keys(sizes)) {
		s := sizes[n]
		t.Logf("%-18s %6d bytes, %5d gzipped", n, s[0], s[1])
		raw += s[0]
		gz += s[1]
	}
	t.Logf("total %d bytes, %d gzipped", raw, gz)
	// A budget, not a speed claim: the UI must stay small enough to embed
	// without a second thought.
	if gz > 100<<10 {
		t.Errorf("assets are %d bytes gzipped, over the 100 KiB budget (docs/DESIGN.md §Web UI)", gz)
	}
}

// TestLoad_CompressesNothing: Load is on the path from exec to /-/ready, so
// it must not gzip the assets (that was ~15 compressors of ~1 MB state, a
// quarter of a server start's CPU); each is compressed at its first gzip
// request instead. Load then allocates about the assets' own size.
func TestLoad_CompressesNothing(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	raw := 0
	for _, a := range s.files {
		raw += len(a.raw)
	}
	raw += len(s.index.raw)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*raw+256<<10); got > limit {
		t.Errorf("Load allocated %d bytes for %d bytes of assets (limit %d): it compresses", got, raw, limit)
	}
}
