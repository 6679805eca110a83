package httpfast

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// funcStore is a Storage whose Append is a test function.
type funcStore struct {
	append func(ctx context.Context, b *stages.Batch) (stages.AppendStats, error)
}

func (f *funcStore) Append(ctx context.Context, b *stages.Batch) (stages.AppendStats, error) {
	return f.append(ctx, b)
}
func (f *funcStore) LookupHinted([]byte, *stages.RouteHint) (stages.Route, bool) {
	return stages.Route{}, false
}

func TestServer_NotReadyUntilStorage(t *testing.T) {
	ts := startTestServer(t, nil)
	require.Equal(t, 200, ts.do("GET", "/-/healthy", nil).code)
	r := ts.do("GET", "/-/ready", nil)
	require.Equal(t, 503, r.code)
	r = ts.post("/write", []byte("m v=1"))
	require.Equal(t, 503, r.code)
	require.NotEmpty(t, r.headers["Retry-After"])
	require.Contains(t, r.body, "replaying its write-ahead log")
	db, err := pipeline.Open(t.TempDir(), pipeline.Options{Shards: 1, HeadGCInterval: -1})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	ts.s.SetStorage(db)
	require.Equal(t, 200, ts.do("GET", "/-/ready", nil).code)
	require.Equal(t, 204, ts.post("/write", []byte("m v=1")).code)
	ts.s.SetReady(false)
	require.Equal(t, 503, ts.do("GET", "/-/ready", nil).code)
}

func TestServer_BodyTooLarge(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.Limits.MaxBodyBytes = 1000 })
	r := ts.post("/write", bytes.Repeat([]byte("m v=1\n"), 500))
	require.Equal(t, 413, r.code)
	require.Contains(t, r.body, "--ingest.max-body-size")
	require.Empty(t, ts.read())
}

func TestServer_StorageErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		code  int
		want  string
		retry bool
	}{
		{"overloaded", fmt.Errorf("%w: shard 0 inbox full: %w", pipeline.ErrOverloaded, context.DeadlineExceeded), 503, "overloaded", true},
		{"closed", pipeline.ErrClosed, 503, "shutting down", true},
		{"wal failure", errors.New("wal write /var/lib/tsdb/shards/00/wal/00000001: input/output error"), 500, "internal storage error", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startTestServer(t, &funcStore{append: func(context.Context, *stages.Batch) (stages.AppendStats, error) {
				return stages.AppendStats{}, tc.err
			}})
			r := ts.post("/write", []byte("m v=1"))
			require.Equal(t, tc.code, r.code)
			require.Contains(t, r.body, tc.want)
			require.NotContains(t, r.body, "/var/lib", "no paths leak")
			require.Equal(t, tc.retry, r.headers["Retry-After"] != "")
		})
	}
}

func TestServer_SeriesLimit(t *testing.T) {
	db, err := pipeline.Open(t.TempDir(), pipeline.Options{Shards: 1, MaxActiveSeries: 1, HeadGCInterval: -1, WAL: walseg.Options{Sync: walseg.SyncNone}})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	ts := startTestServer(t, db)
	r := ts.post("/write?precision=s", []byte("a v=1 1\nb v=1 1"))
	require.Equal(t, 429, r.code, r.body)
	require.Contains(t, r.body, "series_limit")
	require.Contains(t, r.body, "--storage.max-active-series")
	// Remote write senders would retry a 429 forever: they get 400.
	r = ts.post("/api/v1/write", snappyBytes(remoteV1Body(t, []labels.Labels{labels.FromStrings("__name__", "c")}, []float64{1}, 1000)), "Content-Type", ctV1)
	require.Equal(t, 400, r.code, r.body)
	require.Contains(t, r.body, "series_limit")
}

func TestServer_ConcurrencyLimit(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	ts := startTestServer(t, &funcStore{append: func(_ context.Context, b *stages.Batch) (stages.AppendStats, error) {
		entered <- struct{}{}
		<-release
		return stages.AppendStats{Appended: len(b.Samples)}, nil
	}}, func(o *Options) { o.Limits.MaxConcurrentIngest = 1; o.Limits.QueueTimeout = time.Millisecond })
	var wg sync.WaitGroup
	var first resp
	wg.Go(func() { first = ts.post("/write", []byte("m v=1")) })
	<-entered // the first request holds the only slot
	r := ts.post("/write", []byte("m v=2"))
	require.Equal(t, 503, r.code)
	require.Contains(t, r.body, "--ingest.max-concurrent-requests=1")
	require.NotEmpty(t, r.headers["Retry-After"])
	close(release)
	wg.Wait()
	require.Equal(t, 204, first.code)
}

func TestServer_DecodeBudget(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.Limits.MaxDecodeBytesInFlight = 100 })
	r := ts.post("/api/v1/write", snappyBytes(bytes.Repeat([]byte{0}, 1000)), "Content-Type", ctV1)
	require.Equal(t, 503, r.code)
	require.Contains(t, r.body, "--ingest.max-decode-bytes-in-flight")
	require.Equal(t, int64(0), ts.s.decodeBudget.used.Load(), "the budget is returned")
}

func TestServer_AdminGate(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		ts := newTestServer(t, func(o *Options) { o.EnableAdminAPI = enabled })
		ts.s.Handle("POST", "/api/v1/admin/test", func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(200) }, RouteOptions{Admin: true})
		r := ts.post("/api/v1/admin/test", nil)
		if enabled {
			require.Equal(t, 200, r.code)
		} else {
			require.Equal(t, 403, r.code)
			require.Contains(t, r.body, "--web.enable-admin-api")
		}
	}
}

func writeWebConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "web.yml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestServer_BasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	require.NoError(t, err)
	wc, err := LoadWebConfig(writeWebConfig(t, "basic_auth_users:\n  alice: "+string(hash)+"\n"))
	require.NoError(t, err)
	ts := newTestServer(t, func(o *Options) { o.Web = wc })
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:nope"))
	require.Equal(t, 401, ts.post("/write", []byte("m v=1")).code)
	require.Equal(t, 401, ts.post("/write", []byte("m v=1"), "Authorization", wrong).code)
	require.Equal(t, 401, ts.post("/write?u=bob&p=s3cret", []byte("m v=1")).code)
	require.Equal(t, 204, ts.post("/write", []byte("m v=1"), "Authorization", basic).code)
	require.Equal(t, 204, ts.post("/write?u=alice&p=s3cret", []byte("m2 v=2")).code)
	require.Equal(t, 204, ts.post("/api/v2/write", []byte("m3 v=3"), "Authorization", "Token alice:s3cret").code)
	require.Equal(t, 401, ts.do("GET", "/metrics", nil).code)
	require.Equal(t, 200, ts.do("GET", "/-/healthy", nil).code, "probes need no credentials")
	require.Equal(t, 200, ts.do("GET", "/-/ready", nil).code)
}

func TestWebConfig_Errors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"basic_auth_users:\n  a: plain\n", "basic_auth_users.a: not a bcrypt hash"},
		{"basic_auth_user:\n  a: x\n", "basic_auth_user"},
		{"tls_server_config:\n  cert_file: x.crt\n", "needs cert_file and key_file"},
		{"tls_server_config:\n  cert_file: x.crt\n  key_file: x.key\n", "tls_server_config"},
	} {
		_, err := LoadWebConfig(writeWebConfig(t, tc.body))
		require.ErrorIs(t, err, ErrWebConfig)
		require.ErrorContains(t, err, tc.want)
	}
}

func selfSignedCert(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
}

func TestServer_TLS(t *testing.T) {
	dir := t.TempDir()
	selfSignedCert(t, dir)
	p := filepath.Join(dir, "web.yml")
	require.NoError(t, os.WriteFile(p, []byte("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  min_version: TLS13\n"), 0o600))
	wc, err := LoadWebConfig(p)
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS13), wc.TLS.MinVersion)
	ts := newTestServer(t, func(o *Options) { o.Web = wc })
	c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ts.ln.Dial() }, TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	defer c.CloseIdleConnections()
	code, _, err := c.Post(nil, "https://test/write", nil)
	require.NoError(t, err)
	require.Equal(t, 204, code)
	old := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ts.ln.Dial() },
		TLSConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}}
	defer old.CloseIdleConnections()
	_, _, err = old.Post(nil, "https://test/write", nil)
	require.Error(t, err, "TLS 1.2 is below min_version")
}

func TestServer_MetricsAndSelfScrape(t *testing.T) {
	ts := newTestServer(t)
	require.Equal(t, 400, ts.post("/write", []byte("m v=1\nm v=oops")).code)
	r := ts.do("GET", "/metrics", nil)
	require.Equal(t, 200, r.code)
	for _, want := range []string{
		`tsdb_http_requests_total{code="400",handler="/write"} 1`,
		`tsdb_ingest_samples_total{protocol="influx"} 1`,
		`tsdb_ingest_parse_errors_total{protocol="influx"} 1`,
		`tsdb_http_request_duration_seconds_bucket{handler="/write"`,
		`tsdb_http_request_size_bytes_count{handler="/write"} 1`,
		`tsdb_http_requests_in_flight 1`, // the /metrics request itself
		`tsdb_ingest_samples_rejected_total{protocol="influx",reason="out_of_order"} 0`,
		`tsdb_ingest_decode_bytes_in_flight 0`,
	} {
		require.Contains(t, r.body, want)
	}
	// The registry holds the DB collectors in cmd/tsdb; here the server's own.
	require.NoError(t, ts.s.SelfScrapeOnce(context.Background(), SelfScrapeOptions{Gatherer: ts.reg, Instance: "self:8080"}, testNow))
	got := ts.read()
	require.Equal(t, []sample{{testNow.UnixMilli(), 1}}, got[`{__name__="up", instance="self:8080", job="tsdb"}`])
	require.Equal(t, []sample{{testNow.UnixMilli(), 1}}, got[`{__name__="tsdb_ingest_samples_total", instance="self:8080", job="tsdb", protocol="influx"}`])
	md, ok := ts.s.Metadata().Get("tsdb_http_requests_total")
	require.True(t, ok)
	require.Equal(t, "counter", md.Type)
}

// TestServer_MemoryBoundedUnderOverload floods a server whose storage is
// slower than the clients with large bodies from many connections and
// checks that the Go heap stays within what the limits allow (bodies held
// by connections, plus the ingest slots' decoded bodies and batches),
// however long the flood lasts. Requests beyond the slots get 503.
func TestServer_MemoryBoundedUnderOverload(t *testing.T) {
	var appended atomic.Int64
	slow := &funcStore{append: func(ctx context.Context, b *stages.Batch) (stages.AppendStats, error) {
		select { // a disk that takes 2 ms per batch
		case <-time.After(2 * time.Millisecond):
		case <-ctx.Done():
			return stages.AppendStats{}, pipeline.ErrOverloaded
		}
		appended.Add(int64(len(b.Samples)))
		return stages.AppendStats{Appended: len(b.Samples)}, nil
	}}
	const clients, bodyBytes = 16, 1 << 20
	ts := startTestServer(t, slow, func(o *Options) {
		o.Limits.MaxConcurrentIngest = 2
		o.Limits.QueueTimeout = 5 * time.Millisecond
		o.Limits.MaxBodyBytes = 2 * bodyBytes
	})
	var body bytes.Buffer
	for i := 0; body.Len() < bodyBytes; i++ {
		fmt.Fprintf(&body, "flood,host=h%d,dc=eu value=%d\n", i%5000, i)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	})
	var wg sync.WaitGroup
	var ok, busy atomic.Int64
	for range clients {
		wg.Go(func() {
			c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ts.ln.Dial() }}
			defer c.CloseIdleConnections()
			for range 12 {
				req := fasthttp.AcquireRequest()
				res := fasthttp.AcquireResponse()
				req.SetRequestURI("http://test/write")
				req.Header.SetMethod("POST")
				req.SetBodyRaw(body.Bytes())
				err := c.Do(req, res)
				if err == nil {
					switch res.StatusCode() {
					case 204:
						ok.Add(1)
					case 503:
						busy.Add(1)
					}
				}
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(res)
			}
		})
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	// Bodies held: each connection reads its body (and fasthttp keeps a
	// response and request buffer per connection) — clients x 2 x body; the
	// two slots hold a batch of chunkSamples and their keys. Allow 3x for
	// the garbage collector's headroom (GOGC=100 doubles live heap).
	bound := base.HeapInuse + 3*uint64(clients*2*bodyBytes) + 64<<20
	t.Logf("peak heap in use %d MiB (bound %d MiB); %d stored requests, %d answered 503, %d samples", peak.Load()>>20, bound>>20, ok.Load(), busy.Load(), appended.Load())
	require.Less(t, peak.Load(), bound)
	require.Positive(t, busy.Load(), "the slots pushed back")
	require.Positive(t, ok.Load())
}
