package httpfast

import (
	"bytes"

	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
)

// TestMalformed sends each bad input after a good write to the same
// server and checks the status, that the message names the problem, and
// that the data stored before (and the good part of a partly bad body) is
// intact and readable.
func TestMalformed(t *testing.T) {
	rwGood := rwV1(t, pbSeries([]string{"__name__", "rw_ok"}, prompb.Sample{Timestamp: 1000, Value: 1}))
	v2Req := func(mut func(*writev2.Request)) []byte {
		st := writev2.NewSymbolTable()
		req := writev2.Request{Timeseries: []writev2.TimeSeries{{
			LabelsRefs: st.SymbolizeLabels(labels.FromStrings("__name__", "v2_ok"), nil),
			Samples:    []writev2.Sample{{Value: 1, Timestamp: 1000}},
		}}}
		req.Symbols = st.Symbols()
		mut(&req)
		b, err := req.Marshal()
		require.NoError(t, err)
		return b
	}
	bomb := gzipBytes(t, bytes.Repeat([]byte("a"), 2<<20))
	long := "m,t=" + strings.Repeat("x", 5000) + " v=1 1000000000"
	type tc struct {
		name    string
		path    string
		body    []byte
		headers []string
		code    int
		want    string // substring of the answer
		stored  string // a series that must be stored from this body ("" none)
	}
	lp := func(name, body string, code int, want string) tc {
		return tc{name: "influx/" + name, path: "/write?precision=s", body: []byte(body), code: code, want: want}
	}
	cases := []tc{
		lp("missing fields", "m", 400, "missing fields"),
		lp("missing fields after tags", "m,a=b", 400, "missing fields"),
		lp("empty measurement", ",a=b v=1", 400, "missing measurement"),
		lp("tag without equals", "m,a v=1", 400, "tag without '='"),
		lp("empty tag key", "m,=b v=1", 400, "empty tag key"),
		lp("empty tag value", "m,a= v=1", 400, "empty tag value"),
		lp("unescaped equals in tag value", "m,a=b=c v=1", 400, "unescaped '='"),
		lp("field without equals", "m v", 400, "field without '='"),
		lp("empty field key", "m =1", 400, "empty field key"),
		lp("missing field value", "m v=", 400, "missing field value"),
		lp("bad number", "m v=1.2.3x", 400, "invalid field value"),
		lp("NaN string", "m v=NaN", 400, "invalid field value"),
		lp("Inf string", "m v=Inf", 400, "invalid field value"),
		lp("hex float", "m v=0x1p3", 400, "invalid field value"),
		lp("integer overflow", "m v=99999999999999999999i", 400, "invalid field value"),
		lp("negative unsigned", "m v=-1u", 400, "invalid field value"),
		lp("bad boolean", "m v=tru", 400, "invalid field value"),
		lp("unterminated string", `m v="abc`, 400, "unterminated string"),
		lp("bad timestamp", "m v=1 12ab", 400, "invalid timestamp"),
		lp("timestamp out of int64", "m v=1 99999999999999999999", 400, "timestamp out of range"),
		lp("timestamp overflows in ms", "m v=1 9223372036854776", 400, "timestamp out of range"),
		lp("text after timestamp", "m v=1 1 2", 400, "unexpected text after the timestamp"),
		lp("escaped space swallows the field separator", `m,a=b\ v=1`, 400, "unescaped '='"),
		lp("invalid UTF-8 tag value", "m,a=\xff\xfe v=1 1", 400, "not valid UTF-8"),
		lp("duplicate tags", "m,a=1,a=2 v=1 1", 400, "duplicate label name"),
		lp("duplicate of __name__", "m,__name__=x v=1 1", 400, "duplicate label name"),
		lp("huge tag value", long, 400, "limit 4096"),
		{name: "influx/bad precision v1", path: "/write?precision=d", body: []byte("m v=1"), code: 400, want: "precision"},
		{name: "influx/bad precision v2", path: "/api/v2/write?precision=h", body: []byte("m v=1"), code: 400, want: `"code":"invalid"`},
		{name: "influx/gzip bomb", path: "/write", body: bomb, headers: []string{"Content-Encoding", "gzip"}, code: 413, want: "decodes to more than"},
		{name: "influx/corrupt gzip", path: "/write", body: []byte("\x1f\x8b\x08\x00garbage"), headers: []string{"Content-Encoding", "gzip"}, code: 400, want: "gzip"},
		{name: "influx/not gzip", path: "/write", body: []byte("m v=1"), headers: []string{"Content-Encoding", "gzip"}, code: 400, want: "gzip"},
		{name: "influx/unsupported encoding", path: "/write", body: []byte("m v=1"), headers: []string{"Content-Encoding", "br"}, code: 415, want: "Content-Encoding"},
		{name: "influx/too many lines", path: "/write", body: []byte(strings.Repeat("m v=1\n", 120)), code: 413, want: "max-lines-per-request"},
		{name: "influx/partly bad keeps the good line", path: "/write?precision=s", body: []byte("lp_ok v=1 1\nm v=x 1"), code: 400, want: "line 2 column 5", stored: `{__name__="lp_ok_v"}`},
		{name: "influx/empty body", path: "/write", body: nil, code: 204},
		{name: "influx/wrong method", path: "/write", code: 405, want: "method not allowed"},

		{name: "rw/truncated snappy", path: "/api/v1/write", body: snappyBytes(rwGood)[:5], headers: []string{"Content-Type", ctV1}, code: 400, want: "snappy"},
		{name: "rw/not snappy", path: "/api/v1/write", body: []byte("plain protobuf"), headers: []string{"Content-Type", ctV1}, code: 400, want: "snappy"},
		{name: "rw/bad varint", path: "/api/v1/write", body: snappyBytes([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), headers: []string{"Content-Type", ctV1}, code: 400, want: "malformed protobuf"},
		{name: "rw/truncated message", path: "/api/v1/write", body: snappyBytes(rwGood[:len(rwGood)-3]), headers: []string{"Content-Type", ctV1}, code: 400, want: "malformed protobuf"},
		{name: "rw/wrong content type", path: "/api/v1/write", body: snappyBytes(rwGood), headers: []string{"Content-Type", "text/plain"}, code: 415, want: "Content-Type"},
		{name: "rw/unknown proto", path: "/api/v1/write", body: snappyBytes(rwGood), headers: []string{"Content-Type", "application/x-protobuf;proto=io.prometheus.write.v3.Request"}, code: 415, want: "v3"},
		{name: "rw/zstd encoding", path: "/api/v1/write", body: rwGood, headers: []string{"Content-Type", ctV1, "Content-Encoding", "zstd"}, code: 415, want: "snappy"},
		{name: "rw/invalid UTF-8 label", path: "/api/v1/write", body: snappyBytes(rwV1(t, pbSeries([]string{"__name__", "m", "a", "\xff"}, prompb.Sample{Timestamp: 1, Value: 1}))), headers: []string{"Content-Type", ctV1}, code: 400, want: "not valid UTF-8"},
		{name: "rw/invalid metric name", path: "/api/v1/write", body: snappyBytes(rwV1(t, pbSeries([]string{"__name__", "1bad"}, prompb.Sample{Timestamp: 1, Value: 1}))), headers: []string{"Content-Type", ctV1}, code: 400, want: "metric name"},
		{name: "rw/no metric name", path: "/api/v1/write", body: snappyBytes(rwV1(t, pbSeries([]string{"job", "x"}, prompb.Sample{Timestamp: 1, Value: 1}))), headers: []string{"Content-Type", ctV1}, code: 400, want: "no metric name"},
		{name: "rw/duplicate label", path: "/api/v1/write", body: snappyBytes(rwV1(t, pbSeries([]string{"__name__", "m", "a", "1", "a", "2"}, prompb.Sample{Timestamp: 1, Value: 1}))), headers: []string{"Content-Type", ctV1}, code: 400, want: "duplicate label name"},
		{name: "rw/bad label name", path: "/api/v1/write", body: snappyBytes(rwV1(t, pbSeries([]string{"__name__", "m", "a-b", "1"}, prompb.Sample{Timestamp: 1, Value: 1}))), headers: []string{"Content-Type", ctV1}, code: 400, want: "label name"},
		{name: "rw/partly bad keeps the good series", path: "/api/v1/write", body: snappyBytes(rwV1(t,
			pbSeries([]string{"__name__", "rw_ok2"}, prompb.Sample{Timestamp: 1000, Value: 1}),
			pbSeries([]string{"__name__", "m", "a", "\xff"}, prompb.Sample{Timestamp: 1, Value: 1}))), headers: []string{"Content-Type", ctV1}, code: 400, want: "timeseries 2", stored: `{__name__="rw_ok2"}`},
		{name: "rw/empty body", path: "/api/v1/write", body: snappyBytes(nil), headers: []string{"Content-Type", ctV1}, code: 204},
		{name: "rw2/ref out of range", path: "/api/v1/write", body: snappyBytes(v2Req(func(r *writev2.Request) { r.Timeseries[0].LabelsRefs = []uint32{1, 99} })), headers: []string{"Content-Type", ctV2}, code: 400, want: "symbol table has"},
		{name: "rw2/odd refs", path: "/api/v1/write", body: snappyBytes(v2Req(func(r *writev2.Request) { r.Timeseries[0].LabelsRefs = []uint32{1} })), headers: []string{"Content-Type", ctV2}, code: 400, want: "odd number"},
		{name: "rw2/symbols[0] not empty", path: "/api/v1/write", body: snappyBytes(v2Req(func(r *writev2.Request) { r.Symbols[0] = "x" })), headers: []string{"Content-Type", ctV2}, code: 400, want: "symbols[0]"},
		{name: "rw2/histograms only", path: "/api/v1/write", body: snappyBytes(v2Req(func(r *writev2.Request) {
			r.Timeseries[0].Samples = nil
			r.Timeseries[0].Histograms = []writev2.Histogram{{Timestamp: 1}}
		})), headers: []string{"Content-Type", ctV2}, code: 204},

		{name: "json/syntax", path: "/api/v1/write", body: []byte(`{"timeseries":[{"labels":[{"name":"__name__","value":"j"}],"samples":[{"timestamp":1,"value":1}]},{`), headers: []string{"Content-Type", "application/json"}, code: 400, want: "JSON syntax error"},
		{name: "json/bad value", path: "/api/v1/write", body: []byte(`{"timeseries":[{"labels":[{"name":"__name__","value":"j"}],"samples":[{"timestamp":1,"value":"abc"}]}]}`), headers: []string{"Content-Type", "application/json"}, code: 400, want: "not a number"},
		{name: "json/float timestamp", path: "/api/v1/write", body: []byte(`{"timeseries":[{"labels":[{"name":"__name__","value":"j"}],"samples":[{"timestamp":1.5,"value":1}]}]}`), headers: []string{"Content-Type", "application/json"}, code: 400, want: "not an integer"},
		{name: "json/no labels", path: "/api/v1/write", body: []byte(`{"timeseries":[{"samples":[{"timestamp":1,"value":1}]}]}`), headers: []string{"Content-Type", "application/json"}, code: 400, want: "without labels"},
		{name: "json/bad escape", path: "/api/v1/write", body: []byte(`{"timeseries":[{"labels":[{"name":"__name__","value":"a\q"}]}]}`), headers: []string{"Content-Type", "application/json"}, code: 400, want: "invalid escape"},
		{name: "json/trailing comma", path: "/api/v1/write", body: []byte(`{"timeseries":[{"labels":[{"name":"__name__","value":"j"},]}]}`), headers: []string{"Content-Type", "application/json"}, code: 400, want: "trailing comma"},
		{name: "json/partly bad keeps the first series", path: "/api/v1/write", body: []byte(`{"timeseries":[{"labels":[{"name":"__name__","value":"json_ok"}],"samples":[{"timestamp":1000,"value":1}]},{"labels":[{"name":"__name__","value":"x"}],"samples":[{"timestamp":1,"value":nope}]}]}`), headers: []string{"Content-Type", "application/json"}, code: 400, want: "series 2", stored: `{__name__="json_ok"}`},

		{name: "text/bad value", path: "/api/v1/import/prometheus", body: []byte("m 1x"), code: 400, want: "invalid value"},
		{name: "text/bad label escape", path: "/api/v1/import/prometheus", body: []byte(`m{a="\q"} 1`), code: 400, want: "invalid escape"},
		{name: "text/unterminated label value", path: "/api/v1/import/prometheus", body: []byte(`m{a="x} 1`), code: 400, want: "unterminated"},
		{name: "text/bad timestamp", path: "/api/v1/import/prometheus", body: []byte(`m 1 1.5`), code: 400, want: "invalid timestamp"},
		{name: "text/missing value", path: "/api/v1/import/prometheus", body: []byte(`m{a="b"}`), code: 400, want: "want a space and a value"},
		{name: "text/bad extra_label", path: "/api/v1/import/prometheus?extra_label=1x", body: []byte(`m 1`), code: 400, want: "extra_label"},
		{name: "text/partly bad", path: "/api/v1/import/prometheus", body: []byte("text_ok 1 1000\nm{ 1"), code: 400, want: "line 2", stored: `{__name__="text_ok"}`},

		{name: "csv/no format", path: "/api/v1/import/csv", body: []byte("1,2"), code: 400, want: "format parameter is required"},
		{name: "csv/bad format", path: "/api/v1/import/csv?format=1:metric", body: []byte("1"), code: 400, want: "format entry"},
		{name: "csv/unknown time layout", path: "/api/v1/import/csv?format=1:metric:m,2:time:unix_h", body: []byte("1,2"), code: 400, want: "time layout"},
		{name: "csv/bad number", path: "/api/v1/import/csv?format=1:metric:m", body: []byte("abc"), code: 400, want: "invalid value"},
		{name: "csv/too few fields", path: "/api/v1/import/csv?format=1:metric:m,3:label:x", body: []byte("1,2"), code: 400, want: "fields"},
		{name: "csv/bad quote", path: "/api/v1/import/csv?format=1:label:x,2:metric:m", body: []byte(`"abc,1`), code: 400, want: "bad quoting"},
		{name: "csv/bad time", path: "/api/v1/import/csv?format=1:metric:m,2:time:rfc3339", body: []byte("1,yesterday"), code: 400, want: "rfc3339"},

		{name: "otlp/bad json", path: "/opentelemetry/v1/metrics", body: []byte(`{"resourceMetrics":[{"scopeMetrics":`), headers: []string{"Content-Type", "application/json"}, code: 400, want: "OTLP JSON"},
		{name: "otlp/wrong content type", path: "/opentelemetry/v1/metrics", body: []byte(`x`), headers: []string{"Content-Type", "text/plain"}, code: 415, want: "application/x-protobuf or application/json"},
		{name: "otlp/bad protobuf", path: "/opentelemetry/v1/metrics", body: []byte{0x0a, 0x05, 1}, headers: []string{"Content-Type", "application/x-protobuf"}, code: 400, want: "malformed protobuf"},
		{name: "otlp/delta sum", path: "/opentelemetry/v1/metrics", body: otlpRequest(pbMsg(2, pbStr(1, "x"), pbMsg(7,
			pbMsg(1, pbFixed64(3, 1e15), pbDouble(4, 1)), pbVarint(2, 1), pbVarint(3, 1)))), headers: []string{"Content-Type", "application/x-protobuf"}, code: 400, want: "delta temporality"},
		{name: "otlp/bad histogram", path: "/opentelemetry/v1/metrics", body: otlpRequest(pbMsg(2, pbStr(1, "h"), pbMsg(9,
			pbMsg(1, pbFixed64(3, 1e15), pbPacked(6, 1, 2, 3), pbPacked(7, 1)), pbVarint(2, 2)))), headers: []string{"Content-Type", "application/x-protobuf"}, code: 400, want: "bucket_counts"},

		{name: "http/unknown path", path: "/api/v1/nothing", body: []byte("x"), code: 404, want: "not found"},
	}
	require.GreaterOrEqual(t, len(cases), 50)

	ts := newTestServer(t, func(o *Options) { o.Limits.MaxLinesPerRequest = 100; o.Limits.MaxDecodedBytes = 1 << 20 })
	// Data stored before any bad input.
	require.Equal(t, 204, ts.post("/write?precision=s", []byte("before v=1 1\nbefore v=2 2")).code)
	want := []sample{{1000, 1}, {2000, 2}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := "POST"
			if strings.HasSuffix(c.name, "wrong method") {
				method = "PUT"
			}
			r := ts.do(method, c.path, c.body, c.headers...)
			require.Equal(t, c.code, r.code, r.body)
			require.Contains(t, r.body, c.want)
			require.NotContains(t, r.body, "/tmp", "answers never name server paths")
			require.NotContains(t, r.body, "goroutine", "answers never carry stack traces")
			got := ts.read()
			require.Equal(t, want, got[`{__name__="before_v"}`], "data stored before is intact")
			if c.stored != "" {
				require.NotEmpty(t, got[c.stored], "the good part of the body is stored: %v", keys(got))
			}
		})
	}
}

func keys(m map[string][]sample) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
