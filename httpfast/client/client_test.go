package client_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/client"
)

func newClient(t *testing.T, addr string, o client.Options) *client.Client {
	t.Helper()
	c, err := client.New(addr, o)
	require.NoError(t, err)
	return c
}

func TestClient_WriteFormatsAndMetadata(t *testing.T) {
	ts := newTestServer(t, httpfast.Options{})
	ctx := context.Background()
	c := newClient(t, ts.addr, client.Options{Gzip: true})
	require.NoError(t, c.Write(ctx, client.FormatProm, []byte("cpu{host=\"a\"} 0.5 1700000000000\n"), client.WriteOptions{}))
	require.NoError(t, c.Write(ctx, client.FormatInflux, []byte("mem,host=b used=3 1700000000\n"), client.WriteOptions{Precision: "s"}))
	require.NoError(t, c.Write(ctx, client.FormatCSV, []byte("c,7,1700000000\n"), client.WriteOptions{CSVFormat: "1:label:host,2:metric:disk,3:time:unix_s"}))
	require.NoError(t, c.WriteSeries(ctx, []client.Series{{Labels: map[string]string{"__name__": "rw", "z": "1", "a": "2"}, Samples: []client.Sample{{T: 1700000000000, V: 9}}}}))
	require.NoError(t, c.Write(ctx, client.FormatJSONLines, []byte(`{"metric":{"__name__":"jl","k":"v"},"values":[1,"NaN"],"timestamps":[1700000000000,1700000001000]}`+"\n"), client.WriteOptions{}))

	names, err := c.LabelValues(ctx, "__name__", nil, client.Range{})
	require.NoError(t, err)
	require.Equal(t, []string{"cpu", "disk", "jl", "mem_used", "rw"}, names)
	series, err := c.Series(ctx, []string{"rw", "cpu"}, client.Range{Start: time.UnixMilli(1699999999000), End: time.UnixMilli(1700000001000)})
	require.NoError(t, err)
	require.Equal(t, []map[string]string{{"__name__": "cpu", "host": "a"}, {"__name__": "rw", "a": "2", "z": "1"}}, series)
	labels, err := c.Labels(ctx, []string{"mem_used"}, client.Range{})
	require.NoError(t, err)
	require.Equal(t, []string{"__name__", "host"}, labels)

	var buf bytes.Buffer
	_, err = c.Export(ctx, &buf, client.ExportProm, []string{"jl"}, client.Range{})
	require.NoError(t, err)
	require.Equal(t, "jl{k=\"v\"} 1 1700000000000\njl{k=\"v\"} NaN 1700000001000\n", buf.String())

	// Typed errors carry the envelope's errorType.
	_, err = c.Series(ctx, []string{"up{"}, client.Range{})
	var ae *client.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 400, ae.StatusCode)
	require.Equal(t, "bad_data", ae.Type)
	require.Contains(t, ae.Message, `invalid parameter "match[]"`)
	err = c.Write(ctx, client.FormatProm, []byte("bad{ 1\n"), client.WriteOptions{})
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 400, ae.StatusCode)
	require.Empty(t, ae.Type)
}

func TestClient_Retries(t *testing.T) {
	var calls atomic.Int32
	codes := []int{503, 500, 429, 204}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1) - 1
		code := codes[min(int(n), len(codes)-1)]
		if code == 429 {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, client.Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	require.NoError(t, c.Write(context.Background(), client.FormatProm, []byte("a 1\n"), client.WriteOptions{}))
	require.EqualValues(t, 4, calls.Load())

	// 400 is never retried.
	calls.Store(0)
	codes = []int{400}
	err := c.Write(context.Background(), client.FormatProm, []byte("a 1\n"), client.WriteOptions{})
	var ae *client.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 400, ae.StatusCode)
	require.EqualValues(t, 1, calls.Load())

	// Gives up after MaxRetries.
	calls.Store(0)
	codes = []int{503}
	c = newClient(t, srv.URL, client.Options{MaxRetries: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	err = c.Write(context.Background(), client.FormatProm, []byte("a 1\n"), client.WriteOptions{})
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 503, ae.StatusCode)
	require.EqualValues(t, 3, calls.Load())

	// Connection errors are retried until the context ends.
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c = newClient(t, srv.URL, client.Options{MaxRetries: 1000, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	err = c.Write(ctx, client.FormatProm, []byte("a 1\n"), client.WriteOptions{})
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), err)
}

// TestClient_ImportExportCapture imports the real node_exporter capture in
// small batches, exports it as JSON lines and as text, re-imports both
// exports into fresh servers and compares the exports byte for byte.
func TestClient_ImportExportCapture(t *testing.T) {
	capture, err := os.ReadFile("/work/shared/data/node_exporter_10min.prom")
	if err != nil {
		t.Skipf("capture not available: %v", err)
	}
	ctx := context.Background()
	src := newTestServer(t, httpfast.Options{})
	c := newClient(t, src.addr, client.Options{Gzip: true})
	var progress []client.ImportStats
	st, err := c.Import(ctx, client.FormatProm, bytes.NewReader(capture), client.ImportOptions{BatchBytes: 256 << 10,
		Progress: func(s client.ImportStats) { progress = append(progress, s) }})
	require.NoError(t, err)
	require.EqualValues(t, len(capture), st.Bytes)
	require.EqualValues(t, strings.Count(string(capture), "\n"), st.Lines)
	require.Greater(t, st.Batches, 3)
	require.Len(t, progress, st.Batches)

	all := []string{`{__name__=~".+"}`}
	export := func(c *client.Client, f client.ExportFormat) []byte {
		var buf bytes.Buffer
		_, err := c.Export(ctx, &buf, f, all, client.Range{})
		require.NoError(t, err)
		return buf.Bytes()
	}
	jl, text := export(c, client.ExportJSONLines), export(c, client.ExportProm)
	require.Equal(t, strings.Count(string(capture), "\n"), strings.Count(string(text), "\n"), "one text line per sample")

	for _, f := range []struct {
		in  client.Format
		out client.ExportFormat
		b   []byte
	}{{client.FormatJSONLines, client.ExportJSONLines, jl}, {client.FormatProm, client.ExportProm, text}} {
		dst := newTestServer(t, httpfast.Options{})
		dc := newClient(t, dst.addr, client.Options{})
		_, err := dc.Import(ctx, f.in, bytes.NewReader(f.b), client.ImportOptions{BatchBytes: 1 << 20})
		require.NoError(t, err)
		require.Equal(t, string(f.b), string(export(dc, f.out)), "re-import of %s exports the same bytes", f.in)
		require.Equal(t, string(text), string(export(dc, client.ExportProm)))
	}
}

func TestJSONLinesToWrite(t *testing.T) {
	out, err := client.JSONLinesToWrite([]byte(`{"metric":{"b":"2","__name__":"m"},"values":[1.5e-300,"+Inf"],"timestamps":[1,2]}` + "\n\n"))
	require.NoError(t, err)
	require.Equal(t, `{"timeseries":[{"labels":[{"name":"__name__","value":"m"},{"name":"b","value":"2"}],"samples":[{"timestamp":1,"value":1.5e-300},{"timestamp":2,"value":"+Inf"}]}]}`, string(out))
	for _, bad := range []string{`{"metric":{"a":"1"},"values":[1],"timestamps":[]}`, `{"metric":{}}`, `{"metric":{"a":"1"},"values":["x"],"timestamps":[1]}`, `nope`} {
		_, err := client.JSONLinesToWrite([]byte("\n" + bad))
		require.ErrorContains(t, err, "line 2", bad)
	}
	_ = math.NaN
}
