package httpfast

import (
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// rwV1 encodes a 1.0 WriteRequest with the generated (gogo) code of
// Prometheus, an encoder independent of our decoder.
func rwV1(t testing.TB, series ...prompb.TimeSeries) []byte {
	t.Helper()
	b, err := (&prompb.WriteRequest{Timeseries: series}).Marshal()
	require.NoError(t, err)
	return b
}

func pbSeries(lset []string, samples ...prompb.Sample) prompb.TimeSeries {
	ts := prompb.TimeSeries{Samples: samples}
	for i := 0; i < len(lset); i += 2 {
		ts.Labels = append(ts.Labels, prompb.Label{Name: lset[i], Value: lset[i+1]})
	}
	return ts
}

const ctV1 = "application/x-protobuf"
const ctV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"

func TestRemoteWriteV1(t *testing.T) {
	ts := newTestServer(t)
	stale := math.Float64frombits(0x7ff0000000000002)
	for i := range int64(2) { // the second round hits the route cache
		wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
			pbSeries([]string{"__name__", "up", "job", "node", "instance", "a:9100"}, prompb.Sample{Timestamp: 1000 + 5000*i, Value: 1}, prompb.Sample{Timestamp: 2000 + 5000*i, Value: stale}),
			pbSeries([]string{"__name__", "node_load1", "instance", "a:9100"}, prompb.Sample{Timestamp: 1000 + 5000*i, Value: 0.25}),
		}}
		wr.Timeseries[1].Exemplars = []prompb.Exemplar{{Value: 1, Timestamp: 1000}}
		wr.Metadata = []prompb.MetricMetadata{{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "node_load1", Help: "1m load average."}}
		body, err := wr.Marshal()
		require.NoError(t, err)
		r := ts.post("/api/v1/write", snappyBytes(body), "Content-Type", ctV1, "Content-Encoding", "snappy", "X-Prometheus-Remote-Write-Version", "0.1.0")
		require.Equal(t, 204, r.code, "round %d: %s", i, r.body)
		require.Contains(t, r.headers["X-Silverback-Not-Stored"], "1 exemplars")
	}
	got := ts.read()
	up := got[`{__name__="up", instance="a:9100", job="node"}`]
	require.Len(t, up, 4)
	require.Equal(t, uint64(0x7ff0000000000002), math.Float64bits(up[1].V), "the stale marker is stored bit-exact")
	require.Equal(t, []sample{{1000, 0.25}, {6000, 0.25}}, got[`{__name__="node_load1", instance="a:9100"}`])
	md, ok := ts.s.Metadata().Get("node_load1")
	require.True(t, ok)
	require.Equal(t, Metadata{Type: "gauge", Help: "1m load average."}, md)
}

func rwV2(t testing.TB, series []labels.Labels, samples [][]writev2.Sample, meta []writev2.Metadata) []byte {
	t.Helper()
	st := writev2.NewSymbolTable()
	req := writev2.Request{}
	for i, ls := range series {
		ts := writev2.TimeSeries{LabelsRefs: st.SymbolizeLabels(ls, nil), Samples: samples[i]}
		if meta != nil {
			ts.Metadata = meta[i]
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Symbols = st.Symbols()
	b, err := req.Marshal()
	require.NoError(t, err)
	return b
}

func TestRemoteWriteV2(t *testing.T) {
	ts := newTestServer(t)
	series := []labels.Labels{
		labels.FromStrings("__name__", "cpu_seconds_total", "cpu", "0", "mode", "idle"),
		labels.FromStrings("__name__", "cpu_seconds_total", "cpu", "0", "mode", "user"),
	}
	for i := range int64(2) { // the second round hits the route cache
		body := rwV2(t, series, [][]writev2.Sample{{{Value: 10, Timestamp: 1000 + 2000*i}, {Value: 11, Timestamp: 2000 + 2000*i}}, {{Value: 3, Timestamp: 1000 + 2000*i}}}, nil)
		r := ts.post("/api/v1/write", snappyBytes(body), "Content-Type", ctV2, "Content-Encoding", "snappy", "X-Prometheus-Remote-Write-Version", "2.0.0")
		require.Equal(t, 204, r.code, r.body)
		require.Equal(t, "3", r.headers["X-Prometheus-Remote-Write-Samples-Written"])
		require.Equal(t, "0", r.headers["X-Prometheus-Remote-Write-Histograms-Written"])
		require.Equal(t, "0", r.headers["X-Prometheus-Remote-Write-Exemplars-Written"])
	}
	require.Equal(t, map[string][]sample{
		`{__name__="cpu_seconds_total", cpu="0", mode="idle"}`: {{1000, 10}, {2000, 11}, {3000, 10}, {4000, 11}},
		`{__name__="cpu_seconds_total", cpu="0", mode="user"}`: {{1000, 3}, {3000, 3}},
	}, ts.read())
}

func TestRemoteWriteV2_Metadata(t *testing.T) {
	ts := newTestServer(t)
	st := writev2.NewSymbolTable()
	ls := labels.FromStrings("__name__", "req_seconds_total")
	refs := st.SymbolizeLabels(ls, nil)
	md := writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER, HelpRef: st.Symbolize("Requests."), UnitRef: st.Symbolize("seconds")}
	req := writev2.Request{Symbols: st.Symbols(), Timeseries: []writev2.TimeSeries{{LabelsRefs: refs, Samples: []writev2.Sample{{Value: 1, Timestamp: 5}}, Metadata: md}}}
	b, err := req.Marshal()
	require.NoError(t, err)
	r := ts.post("/api/v1/write", snappyBytes(b), "Content-Type", ctV2, "Content-Encoding", "snappy")
	require.Equal(t, 204, r.code, r.body)
	got, ok := ts.s.Metadata().Get("req_seconds_total")
	require.True(t, ok)
	require.Equal(t, Metadata{Type: "counter", Unit: "seconds", Help: "Requests."}, got)
}

// TestRemoteWriteV1_KeyForms: a TimeSeries whose labels are interleaved
// with its samples (legal protobuf, unusual) keys the route cache by its
// label fields copied together, the usual one by the body's own bytes;
// both store under the right labels, in two rounds (misses, then hits),
// and the two forms of the same labels agree.
func TestRemoteWriteV1_KeyForms(t *testing.T) {
	ts := newTestServer(t)
	label := func(b []byte, name, value string) []byte {
		var l []byte
		l = protowire.AppendTag(l, 1, protowire.BytesType)
		l = protowire.AppendString(l, name)
		l = protowire.AppendTag(l, 2, protowire.BytesType)
		l = protowire.AppendString(l, value)
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		return protowire.AppendBytes(b, l)
	}
	sampleField := func(b []byte, t int64, v float64) []byte {
		var s []byte
		s = protowire.AppendTag(s, 1, protowire.Fixed64Type)
		s = protowire.AppendFixed64(s, math.Float64bits(v))
		s = protowire.AppendTag(s, 2, protowire.VarintType)
		s = protowire.AppendVarint(s, uint64(t))
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendBytes(b, s)
	}
	for round := range int64(2) {
		t0 := 1000 + 10000*round
		var interleaved, together []byte
		interleaved = label(interleaved, "__name__", "m")
		interleaved = sampleField(interleaved, t0, 1)
		interleaved = label(interleaved, "job", "a")
		interleaved = sampleField(interleaved, t0+1000, 2)
		together = label(together, "__name__", "m")
		together = label(together, "job", "a")
		together = sampleField(together, t0+2000, 3)
		var wr []byte
		for _, s := range [][]byte{interleaved, together} {
			wr = protowire.AppendTag(wr, 1, protowire.BytesType)
			wr = protowire.AppendBytes(wr, s)
		}
		r := ts.post("/api/v1/write", snappyBytes(wr), "Content-Type", ctV1, "Content-Encoding", "snappy")
		require.Equal(t, 204, r.code, "round %d: %s", round, r.body)
	}
	require.Equal(t, map[string][]sample{`{__name__="m", job="a"}`: {
		{1000, 1}, {2000, 2}, {3000, 3}, {11000, 1}, {12000, 2}, {13000, 3},
	}}, ts.read())
}

// TestDecodeSample: the fast path for the usual encoding and the general
// walk agree, for omitted (zero) fields, reversed and repeated fields.
func TestDecodeSample(t *testing.T) {
	enc := func(fields ...any) []byte {
		var b []byte
		for _, f := range fields {
			switch f := f.(type) {
			case float64:
				b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
				b = protowire.AppendFixed64(b, math.Float64bits(f))
			case int64:
				b = protowire.AppendTag(b, 2, protowire.VarintType)
				b = protowire.AppendVarint(b, uint64(f))
			}
		}
		return b
	}
	for _, tc := range []struct {
		b    []byte
		t    int64
		v    float64
		okay bool
	}{
		{enc(1.5, int64(1700000000000)), 1700000000000, 1.5, true},
		{enc(1.5, int64(1)), 1, 1.5, true},
		{enc(-2.0, int64(-5)), -5, -2, true},
		{enc(int64(7), 2.5), 7, 2.5, true},
		{enc(1.5), 0, 1.5, true},
		{enc(int64(9)), 9, 0, true},
		{enc(1.5, int64(3), int64(4)), 4, 1.5, true},
		{enc(1.5, int64(3), 2.5), 3, 2.5, true},
		{append(enc(1.5, int64(3)), 0x80), 0, 0, false},
		{nil, 0, 0, true},
	} {
		gt, gv, ok := decodeSample(tc.b)
		require.Equal(t, tc.okay, ok, "% x", tc.b)
		if ok {
			require.Equal(t, tc.t, gt, "% x", tc.b)
			require.Equal(t, tc.v, gv, "% x", tc.b)
		}
	}
}
