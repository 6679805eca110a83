package loadgen

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// netHTTPTarget is the alternative HTTPTarget was measured against:
// net/http with keep-alive.
type netHTTPTarget struct {
	url    string
	client *http.Client
}

func (t *netHTTPTarget) Send(ctx context.Context, p *Payload) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(p.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentTypeInflux)
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// BenchmarkHTTPClient compares the two clients posting one 2,000-sample
// line-protocol request per op to a loopback net/http server that discards
// it (server in the same process: the difference between the cases is the
// client's).
func BenchmarkHTTPClient(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	url := srv.URL + "/write"

	var r recorder
	w := newBenchWorker(b, ProtocolInflux, 100, &r)
	ctx := context.Background()
	for len(r.payloads) < 20 {
		if err := w.step(ctx, ctx); err != nil {
			b.Fatal(err)
		}
	}
	p := r.payloads[len(r.payloads)-1]

	fast, err := NewHTTPTarget(HTTPOptions{URL: url, Protocol: ProtocolInflux, MetricsURL: "-"})
	if err != nil {
		b.Fatal(err)
	}
	defer fast.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	for _, tc := range []struct {
		name string
		t    Target
	}{
		{"fasthttp", fast},
		{"nethttp", &netHTTPTarget{url: url, client: &http.Client{Transport: tr}}},
	} {
		b.Run("client="+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p.Body)))
			for b.Loop() {
				if err := tc.t.Send(ctx, &p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(p.Samples)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
