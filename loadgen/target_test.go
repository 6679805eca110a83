package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeServer accepts writes on loopback, records their headers and bodies,
// answers status, and serves /metrics with an inbox depth of 5 over two
// shards.
type fakeServer struct {
	mu      sync.Mutex
	status  int
	paths   map[string]int
	headers http.Header
	bodies  [][]byte
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/metrics" {
		_, _ = io.WriteString(w, "tsdb_shard_inbox_depth{shard=\"0\"} 2\ntsdb_shard_inbox_depth{shard=\"1\"} 3\n")
		return
	}
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.paths[r.URL.Path]++
	f.headers = r.Header.Clone()
	f.bodies = append(f.bodies, b)
	status := f.status
	f.mu.Unlock()
	w.WriteHeader(status)
	if status >= 300 {
		_, _ = io.WriteString(w, "overloaded\n")
	}
}

func TestHTTPTarget(t *testing.T) {
	for _, tc := range []struct {
		p                        Protocol
		path, ctype, enc, rwVers string
	}{
		{ProtocolInflux, "/write", contentTypeInflux, "", ""},
		{ProtocolRW1, "/api/v1/write", contentTypeRW1, "snappy", "0.1.0"},
		{ProtocolRW2, "/api/v1/write", contentTypeRW2, "snappy", "2.0.0"},
		{ProtocolOTLP, "/v1/metrics", contentTypeOTLP, "", ""},
	} {
		t.Run("protocol="+string(tc.p), func(t *testing.T) {
			f := &fakeServer{status: http.StatusNoContent, paths: map[string]int{}}
			srv := httptest.NewServer(f)
			defer srv.Close()
			tg, err := NewHTTPTarget(HTTPOptions{URL: srv.URL, Protocol: tc.p, Header: map[string]string{"Authorization": "Bearer x"}})
			require.NoError(t, err)
			defer tg.Close()
			sum, err := Run(context.Background(), Config{
				Workload: WorkloadBackfill, Protocol: tc.p, Target: tg, Hosts: 2, Seed: 1,
				Start: benchStart, BackfillRange: 4 * DefaultInterval, ProgressInterval: 1,
			})
			require.NoError(t, err)
			require.Zero(t, sum.RequestsFailed, sum.FirstError)
			require.Equal(t, map[string]int{tc.path: int(sum.Requests)}, f.paths)
			require.Equal(t, tc.ctype, f.headers.Get("Content-Type"))
			require.Equal(t, tc.enc, f.headers.Get("Content-Encoding"))
			require.Equal(t, tc.rwVers, f.headers.Get("X-Prometheus-Remote-Write-Version"))
			require.Equal(t, "Bearer x", f.headers.Get("Authorization"))
			// The server got exactly the bytes a recorder gets.
			var r recorder
			for _, b := range f.bodies {
				require.NoError(t, r.Send(context.Background(), &Payload{Protocol: tc.p, Body: b}))
			}
			got := map[string]int{}
			for k, ps := range decodeAllUnchecked(t, &r) {
				got[k] = len(ps)
			}
			require.Len(t, got, 2*507)
			d, ok := tg.InboxDepth(context.Background())
			require.True(t, ok)
			require.Equal(t, 5.0, d)
		})
	}
}

// decodeAllUnchecked decodes payloads whose Samples field is unknown.
func decodeAllUnchecked(t *testing.T, r *recorder) decoded {
	out := decoded{}
	for _, p := range r.payloads {
		switch p.Protocol {
		case ProtocolInflux:
			decodeInflux(t, p.Body, out)
		case ProtocolRW1:
			decodeRW1(t, p.Body, out)
		case ProtocolRW2:
			decodeRW2(t, p.Body, out)
		case ProtocolOTLP:
			decodeOTLP(t, p.Body, out)
		}
	}
	return out
}

// TestHTTPTarget_Errors: failure statuses are counted by class with the
// first error's text; an unreachable server is a transport error.
func TestHTTPTarget_Errors(t *testing.T) {
	f := &fakeServer{status: http.StatusServiceUnavailable, paths: map[string]int{}}
	srv := httptest.NewServer(f)
	tg, err := NewHTTPTarget(HTTPOptions{URL: srv.URL + "/custom", Protocol: ProtocolInflux, MetricsURL: "-"})
	require.NoError(t, err)
	defer tg.Close()
	c := Config{Workload: WorkloadBackfill, Target: tg, Hosts: 1, Start: benchStart, BackfillRange: 2 * DefaultInterval}
	sum, err := Run(context.Background(), c)
	require.NoError(t, err)
	require.Zero(t, sum.Samples)
	require.Equal(t, sum.RequestsFailed, sum.Errors["5xx"])
	require.Positive(t, sum.RequestsFailed)
	require.Contains(t, sum.FirstError, "status 503: overloaded")
	require.Equal(t, map[string]int{"/custom": int(sum.RequestsFailed)}, f.paths)
	_, ok := tg.InboxDepth(context.Background())
	require.False(t, ok, "metrics disabled")
	srv.Close()

	sum, err = Run(context.Background(), c)
	require.NoError(t, err)
	require.Positive(t, sum.Errors["transport"])

	require.ErrorContains(t, tg.Send(context.Background(), &Payload{Protocol: ProtocolRW1}), "payload of protocol rw1 for a target of protocol influx")

	var se *StatusError
	require.True(t, errors.As(error(&StatusError{Code: 429}), &se))
	require.Equal(t, "4xx", errorClass(se))
}

func TestNewHTTPTarget_Errors(t *testing.T) {
	for _, o := range []HTTPOptions{
		{URL: "localhost:8080", Protocol: ProtocolInflux},
		{URL: "ftp://h/x", Protocol: ProtocolInflux},
		{URL: "http://h:1", Protocol: ProtocolInProcess},
		{URL: "http://h:1", Protocol: ProtocolInflux, MetricsURL: "nope"},
	} {
		_, err := NewHTTPTarget(o)
		require.Error(t, err, "%+v", o)
	}
}
