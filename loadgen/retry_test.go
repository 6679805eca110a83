package loadgen

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/require"
)

// flakyTarget fails the first fails calls of every request with err, then
// accepts; it records the payload bodies of every attempt.
type flakyTarget struct {
	mu       sync.Mutex
	err      error
	fails    int
	attempts int
	calls    int
}

func (f *flakyTarget) Send(_ context.Context, p *Payload) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.attempts++
	if f.attempts <= f.fails {
		return f.err
	}
	f.attempts = 0
	return nil
}

func TestRun_Retries(t *testing.T) {
	for _, tc := range []struct {
		name             string
		err              error
		fails, retries   int
		wantOK, wantCall bool
	}{
		{"503 retried then accepted", &StatusError{Code: 503}, 2, 3, true, true},
		{"429 retried then accepted", &StatusError{Code: 429}, 1, 1, true, true},
		{"transport retried", io.ErrUnexpectedEOF, 1, 2, true, true},
		{"retries exhausted", &StatusError{Code: 500}, 5, 2, false, true},
		{"400 not retried", &StatusError{Code: 400}, 1, 3, false, false},
		{"no retries by default", &StatusError{Code: 503}, 1, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flakyTarget{err: tc.err, fails: tc.fails}
			sum, err := Run(context.Background(), Config{
				Workload: WorkloadBackfill, Target: f, Hosts: 1, Concurrency: 1,
				Batch: 10000, BackfillRange: 15 * time.Second, Start: 1767225600000,
				Retries: tc.retries, RetryBackoff: time.Millisecond,
			})
			require.NoError(t, err)
			require.Equal(t, int64(1), sum.Requests+sum.RequestsFailed, "one request of one scrape")
			if tc.wantOK {
				require.Equal(t, int64(1), sum.Requests)
				require.Equal(t, int64(tc.fails), sum.Retries)
				require.Equal(t, tc.fails+1, f.calls)
			} else {
				require.Equal(t, int64(1), sum.RequestsFailed)
				want := 1
				if tc.wantCall {
					want = tc.retries + 1
				}
				require.Equal(t, want, f.calls)
				require.Equal(t, int64(want-1), sum.Retries)
			}
		})
	}
}

func TestRun_RetryHonoursRetryAfter(t *testing.T) {
	f := &flakyTarget{err: &StatusError{Code: 503, RetryAfter: 300 * time.Millisecond}, fails: 1}
	t0 := time.Now()
	sum, err := Run(context.Background(), Config{
		Workload: WorkloadBackfill, Target: f, Hosts: 1, Concurrency: 1, Batch: 10000,
		BackfillRange: 15 * time.Second, Start: 1767225600000, Retries: 1, RetryBackoff: time.Millisecond,
	})
	require.NoError(t, err)
	require.Equal(t, int64(1), sum.Requests)
	require.GreaterOrEqual(t, time.Since(t0), 300*time.Millisecond, "waited the Retry-After, not the 1ms backoff")
}

func TestConfig_RetryErrors(t *testing.T) {
	_, err := Config{Target: &NullTarget{}, Retries: -1}.withDefaults(1767225600000)
	require.ErrorContains(t, err, "retries = -1")
	_, err = Config{Target: &NullTarget{}, RetryBackoff: -time.Second}.withDefaults(1767225600000)
	require.ErrorContains(t, err, "retry backoff")
}

// TestHTTPTarget_GzipAndRetryAfter: a gzip target sends Content-Encoding
// gzip with a body that decompresses to the payload, and a 503 with
// Retry-After surfaces as StatusError.RetryAfter.
func TestHTTPTarget_GzipAndRetryAfter(t *testing.T) {
	var (
		mu   sync.Mutex
		enc  string
		body []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		enc, body = r.Header.Get("Content-Encoding"), b
		mu.Unlock()
		if r.URL.Query().Get("busy") != "" {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(204)
	}))
	defer srv.Close()
	tg, err := NewHTTPTarget(HTTPOptions{URL: srv.URL + "/write", Protocol: ProtocolInflux, Gzip: true})
	require.NoError(t, err)
	defer tg.Close()
	payload := bytes.Repeat([]byte("cpu,host=a value=1 1767225600000000000\n"), 100)
	require.NoError(t, tg.Send(context.Background(), &Payload{Protocol: ProtocolInflux, Body: payload, Samples: 100}))
	mu.Lock()
	require.Equal(t, "gzip", enc)
	zr, err := gzip.NewReader(bytes.NewReader(body))
	require.NoError(t, err)
	got, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, payload, got)
	require.Equal(t, int64(len(body)), tg.GzipBytes())
	require.Less(t, len(body), len(payload)/4)
	mu.Unlock()

	busy, err := NewHTTPTarget(HTTPOptions{URL: srv.URL + "/write?busy=1", Protocol: ProtocolInflux})
	require.NoError(t, err)
	defer busy.Close()
	err = busy.Send(context.Background(), &Payload{Protocol: ProtocolInflux, Body: payload})
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 503, se.Code)
	require.Equal(t, 7*time.Second, se.RetryAfter)

	_, err = NewHTTPTarget(HTTPOptions{URL: srv.URL, Protocol: ProtocolRW1, Gzip: true})
	require.ErrorContains(t, err, "gzip")
}
