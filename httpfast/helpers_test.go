package httpfast

import (
	"bytes"
	"context"
	"math"
	"net"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/walseg"
)

func TestMain(m *testing.M) {
	// fasthttp's own background goroutines: the coarse date clock lives for
	// the process once a server ran; the worker-pool and client cleaners
	// sleep up to 10 s before they notice their server or client is gone.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
	)
}

// testNow is the receive time of every test request.
var testNow = time.UnixMilli(1_700_000_060_000)

// testServer is a Server on an in-memory listener over a real database.
type testServer struct {
	t   testing.TB
	s   *Server
	db  *pipeline.DB
	reg *prometheus.Registry
	ln  *fasthttputil.InmemoryListener
	c   *fasthttp.Client
}

type serverOpt func(*Options)

func newTestServer(t testing.TB, opts ...serverOpt) *testServer {
	t.Helper()
	db, err := pipeline.Open(t.TempDir(), pipeline.Options{Shards: 2, WAL: walseg.Options{Sync: walseg.SyncNone}, HeadGCInterval: -1})
	require.NoError(t, err)
	ts := startTestServer(t, db, opts...)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return ts
}

func startTestServer(t testing.TB, st Storage, opts ...serverOpt) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	o := Options{Logger: zaptest.NewLogger(t), Registerer: reg, Gatherer: reg, now: func() time.Time { return testNow }}
	for _, f := range opts {
		f(&o)
	}
	s, err := New(o)
	require.NoError(t, err)
	if st != nil {
		s.SetStorage(st)
	}
	ln := fasthttputil.NewInmemoryListener()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	ts := &testServer{t: t, s: s, reg: reg, ln: ln,
		c: &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }, ReadTimeout: 30 * time.Second}}
	if db, ok := st.(*pipeline.DB); ok {
		ts.db = db
	}
	t.Cleanup(func() {
		ts.c.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
		require.NoError(t, <-done)
	})
	return ts
}

// resp is an answer to a test request.
type resp struct {
	code    int
	body    string
	headers map[string]string
}

// do sends one request; headers are name/value pairs.
func (ts *testServer) do(method, path string, body []byte, headers ...string) resp {
	ts.t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	res := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(res)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://test" + path)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Content-Type" {
			req.Header.SetContentType(headers[i+1])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	req.SetBody(body)
	require.NoError(ts.t, ts.c.Do(req, res))
	out := resp{code: res.StatusCode(), body: string(res.Body()), headers: map[string]string{}}
	for _, k := range res.Header.PeekKeys() {
		out.headers[string(k)] = string(res.Header.PeekBytes(k))
	}
	return out
}

func (ts *testServer) post(path string, body []byte, headers ...string) resp {
	ts.t.Helper()
	return ts.do("POST", path, body, headers...)
}

// sample is a stored sample as read back.
type sample struct {
	T int64
	V float64
}

// read returns every stored series (by labels string) with its samples.
func (ts *testServer) read() map[string][]sample {
	ts.t.Helper()
	return readAll(ts.t, ts.db)
}

func readAll(t testing.TB, db *pipeline.DB) map[string][]sample {
	t.Helper()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	ss, err := q.Select(context.Background(), labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	require.NoError(t, err)
	out := map[string][]sample{}
	var it *pipeline.SampleIterator
	for ss.Next() {
		s := ss.At()
		it = s.Iterator(it)
		var got []sample
		for it.Next() {
			t, v := it.At()
			got = append(got, sample{t, v})
		}
		require.NoError(t, it.Err())
		out[s.Labels().String()] = got
	}
	require.NoError(t, ss.Err())
	return out
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func snappyBytes(b []byte) []byte { return snappy.Encode(nil, b) }
