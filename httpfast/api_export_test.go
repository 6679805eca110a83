package httpfast

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExport_Formats(t *testing.T) {
	ts := newAPITestServer(t)
	r := ts.get("/api/v1/export", "match[]", "up", "match[]", `{job="node",instance="y:9100"}`)
	require.Equal(t, 200, r.code, r.body)
	require.Equal(t, "application/stream+json", r.headers["Content-Type"])
	require.Equal(t, `{"metric":{"__name__":"up","instance":"x:9100","job":"node"},"values":[1,1],"timestamps":[1700000000000,1700000015000]}
{"metric":{"__name__":"up","instance":"y:9100","job":"node"},"values":[0,1],"timestamps":[1700000000000,1700000015000]}
`, r.body)

	r = ts.get("/api/v1/export", "match[]", "weird_value")
	require.Equal(t, 200, r.code, r.body)
	require.Equal(t, `{"metric":{"__name__":"weird_value","kind":"inf"},"values":["+Inf"],"timestamps":[1700000000000]}
{"metric":{"__name__":"weird_value","kind":"nan"},"values":["NaN"],"timestamps":[1700000000000]}
{"metric":{"__name__":"weird_value","kind":"quote\"\u003c\u0026\u003e"},"values":[0.1],"timestamps":[1700000000500]}
{"metric":{"__name__":"weird_value","kind":"small"},"values":[1e-07],"timestamps":[1700000000000]}
`, r.body)

	r = ts.get("/api/v1/export/prometheus", "match[]", "weird_value", "start", "1700000000.1")
	require.Equal(t, 200, r.code, r.body)
	require.Equal(t, `weird_value{kind="quote\"<&>"} 0.1 1700000000500`+"\n", r.body)

	r = ts.get("/api/v1/export")
	require.Equal(t, 400, r.code)
	require.Contains(t, r.body, "no match[] parameter provided")
	r = ts.get("/api/v1/export", "match[]", "up{")
	require.Equal(t, 400, r.code)
	require.Contains(t, r.body, `"errorType":"bad_data"`)
}

// TestExport_RoundTripCapture imports the real node_exporter capture,
// exports it as text, imports the export into a fresh database and checks
// every sample is there bit for bit (JSON lines: the client's test).
func TestExport_RoundTripCapture(t *testing.T) {
	capture, err := os.ReadFile("../../shared/data/node_exporter_10min.prom")
	if os.IsNotExist(err) {
		capture, err = os.ReadFile("/work/shared/data/node_exporter_10min.prom")
	}
	if err != nil {
		t.Skipf("capture not available: %v", err)
	}
	src := newTestServer(t)
	r := src.post("/api/v1/import/prometheus", capture)
	require.Equal(t, 204, r.code, r.body)
	src.s.SetQueryBackend(&QueryBackend{DB: src.db})
	want := src.read()
	lines := strings.Count(strings.TrimSpace(string(capture)), "\n") + 1
	n := 0
	for _, ss := range want {
		n += len(ss)
	}
	require.Equal(t, lines, n, "every capture line is a stored sample")

	text := src.get("/api/v1/export/prometheus", "match[]", `{__name__=~".+"}`)
	require.Equal(t, 200, text.code)
	dst := newTestServer(t)
	require.Equal(t, 204, dst.post("/api/v1/import/prometheus", []byte(text.body)).code)
	requireSameBits(t, want, dst.read())

}

func requireSameBits(t *testing.T, want, got map[string][]sample) {
	t.Helper()
	require.Equal(t, len(want), len(got))
	for k, ws := range want {
		gs := got[k]
		require.Len(t, gs, len(ws), k)
		for i := range ws {
			require.Equal(t, ws[i].T, gs[i].T, k)
			if math.IsNaN(ws[i].V) {
				require.True(t, math.IsNaN(gs[i].V), k)
				continue
			}
			require.Equal(t, math.Float64bits(ws[i].V), math.Float64bits(gs[i].V), "%s at %d", k, ws[i].T)
		}
	}
}
