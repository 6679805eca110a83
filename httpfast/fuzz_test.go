package httpfast

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/stages"
)

// fakeStore is a Storage without a database: it checks every batch it is
// given, counts the samples and keeps a route cache of its own (learning
// every key it sees, like the router does after a successful append).
type fakeStore struct {
	t       testing.TB
	cache   map[string]labels.Labels
	samples int
	learn   bool
}

func newFakeStore(t testing.TB) *fakeStore {
	return &fakeStore{t: t, cache: map[string]labels.Labels{}, learn: true}
}

func (f *fakeStore) LookupHinted(key []byte, _ *stages.RouteHint) (stages.Route, bool) {
	l, ok := f.cache[string(key)]
	return stages.RouteOfLabels(l), ok
}

func (f *fakeStore) Append(_ context.Context, b *stages.Batch) (stages.AppendStats, error) {
	for i, s := range b.Samples {
		if int(s.Series) >= len(b.Series) {
			f.t.Fatalf("BUG: sample %d names series %d of %d", i, s.Series, len(b.Series))
		}
	}
	for i, s := range b.Series {
		if s.Labels.IsEmpty() {
			f.t.Fatalf("BUG: series %d without labels", i)
		}
		if f.learn && s.Key != nil {
			if _, ok := f.cache[string(s.Key)]; !ok {
				f.cache[string(s.Key)] = s.Labels
			}
		}
	}
	f.samples += len(b.Samples)
	return stages.AppendStats{Appended: len(b.Samples)}, nil
}

// newParseServer is a Server for calling parsers directly.
func newParseServer(t testing.TB, st Storage) *Server {
	t.Helper()
	s, err := New(Options{Logger: zap.NewNop(), now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	s.SetStorage(st)
	return s
}

// parseWith runs one parser over body on a fresh ingester.
func parseWith(s *Server, pm *protoMetrics, fn func(*ingester)) *ingester {
	ing := s.getIngester(context.Background(), pm)
	fn(ing)
	ing.flush()
	return ing
}

func FuzzLineProtocol(f *testing.F) {
	for _, seed := range []string{
		"cpu,host=a,region=eu\\ west usage_idle=99.5,usage_user=2i 1700000000000000000",
		"m v=1u\nm value=t\n# comment\n\nm,a=\\,\\=\\ b f=\"s\\\"x\" 1",
		"m v=1 1 2", "m,a v=1", "m v=\"unterminated", "m v=-1.5e-3",
	} {
		addSeed(f, "FuzzLineProtocol", []byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		st := newFakeStore(t)
		s := newParseServer(t, st)
		prec, _ := parsePrecision(nil, false)
		for range 2 { // the second pass runs on cache hits
			ing := parseWith(s, s.pmInflux, func(ing *ingester) { s.parseInflux(ing, body, prec, nil) })
			s.putIngester(ing)
		}
	})
}

func FuzzRemoteWriteV1(f *testing.F) {
	addSeed(f, "FuzzRemoteWriteV1", rwV1(f, pbSeries([]string{"__name__", "up", "job", "x"}, prompb.Sample{Timestamp: 1000, Value: 1})))
	addSeed(f, "FuzzRemoteWriteV1", []byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		st := newFakeStore(t)
		s := newParseServer(t, st)
		for range 2 {
			ing := parseWith(s, s.pmRemote, func(ing *ingester) { _ = s.decodeRemoteV1(ing, body) })
			s.putIngester(ing)
		}
	})
}

func FuzzRemoteWriteV2(f *testing.F) {
	addSeed(f, "FuzzRemoteWriteV2", rwV2(f, []labels.Labels{labels.FromStrings("__name__", "up", "job", "x")}, [][]writev2.Sample{{{Value: 1, Timestamp: 1000}}}, nil))
	addSeed(f, "FuzzRemoteWriteV2", []byte{0x22, 0x00, 0x2a, 0x04, 0x0a, 0x02, 0x01, 0x02})
	f.Fuzz(func(t *testing.T, body []byte) {
		st := newFakeStore(t)
		s := newParseServer(t, st)
		for range 2 {
			ing := parseWith(s, s.pmRemote, func(ing *ingester) { _ = s.decodeRemoteV2(ing, body) })
			s.putIngester(ing)
		}
	})
}

func FuzzOTLP(f *testing.F) {
	addSeed(f, "FuzzOTLP", otlpRequest(pbMsg(2, pbStr(1, "a.b"), pbStr(3, "s"), pbMsg(7, pbMsg(1, otlpKV(7, "k", "v"), pbFixed64(3, 1e15), pbDouble(4, 1)), pbVarint(2, 2), pbVarint(3, 1)))))
	addSeed(f, "FuzzOTLP", otlpRequest(pbMsg(2, pbStr(1, "h"), pbMsg(9, pbMsg(1, pbFixed64(3, 1e15), pbFixed64(4, 3), pbPacked(6, 1, 2), pbPacked(7, 0)), pbVarint(2, 2)))))
	f.Fuzz(func(t *testing.T, body []byte) {
		st := newFakeStore(t)
		s := newParseServer(t, st)
		for range 2 {
			ing := parseWith(s, s.pmOTLP, func(ing *ingester) { _ = s.decodeOTLP(ing, body) })
			s.putIngester(ing)
		}
	})
}

func FuzzTextExposition(f *testing.F) {
	addSeed(f, "FuzzTextExposition", []byte("# HELP m Help.\n# TYPE m counter\nm{a=\"x\\\"y\",b=\"\\n\"} 1.5 1000\nm2 NaN\nm3 +Inf # {trace_id=\"1\"} 1\n"), false)
	addSeed(f, "FuzzTextExposition", []byte("m 1 1.5\n# EOF\n"), true)
	f.Fuzz(func(t *testing.T, body []byte, om bool) {
		st := newFakeStore(t)
		s := newParseServer(t, st)
		for range 2 {
			ing := parseWith(s, s.pmText, func(ing *ingester) { s.parseText(ing, body, om) })
			s.putIngester(ing)
		}
	})
}

func FuzzCSV(f *testing.F) {
	addSeed(f, "FuzzCSV", []byte("host1,1.5,1700000000\n\"host,2\",2,1700000001\n"), "1:label:host,2:metric:load,3:time:unix_s")
	addSeed(f, "FuzzCSV", []byte("2024-01-02T03:04:05Z;1"), "1:time:rfc3339,2:metric:m")
	f.Fuzz(func(t *testing.T, body []byte, format string) {
		cs, err := parseCSVFormat([]byte(format))
		if err != nil {
			return
		}
		st := newFakeStore(t)
		s := newParseServer(t, st)
		for range 2 {
			ing := parseWith(s, s.pmCSV, func(ing *ingester) { s.parseCSV(ing, body, cs) })
			s.putIngester(ing)
		}
	})
}

func FuzzJSON(f *testing.F) {
	addSeed(f, "FuzzJSON", []byte(`{"timeseries":[{"labels":[{"name":"__name__","value":"m\u00e9"},{"name":"a","value":"b"}],"samples":[{"timestamp":1,"value":1.5},{"timestamp":2,"value":"NaN"}]}]}`))
	addSeed(f, "FuzzJSON", []byte(`{"x":[1,{"y":null}],"timeseries":[{"samples":[{"value":1}],"labels":[{"name":"__name__","value":"m"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		st := newFakeStore(t)
		s := newParseServer(t, st)
		for range 2 {
			ing := parseWith(s, s.pmJSON, func(ing *ingester) { s.parseJSON(ing, body) })
			s.putIngester(ing)
		}
	})
}

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "write every fuzz target's seeds to testdata/fuzz/<target>/")

// addSeed adds a seed to f and, with -update-fuzz-seeds, writes it to the
// target's seed corpus in testdata/fuzz (so CI runs the same seeds as
// plain tests and `go test -fuzz` starts from them).
func addSeed(f *testing.F, target string, args ...any) {
	f.Helper()
	f.Add(args...)
	if !*updateSeeds {
		return
	}
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case string:
			fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(v))
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", v)
		default:
			f.Fatalf("seed type %T", a)
		}
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	sum := sha256.Sum256([]byte(b.String()))
	if err := os.WriteFile(filepath.Join(dir, "seed-"+hex.EncodeToString(sum[:8])), []byte(b.String()), 0o644); err != nil {
		f.Fatal(err)
	}
}

func FuzzOTLPJSON(f *testing.F) {
	addSeed(f, "FuzzOTLPJSON", []byte(`{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"timeUnixNano":"1","asDouble":1}]}}]}]}]}`))
	addSeed(f, "FuzzOTLPJSON", []byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"h","histogram":{"dataPoints":[{"count":"1","bucketCounts":["1"],"explicitBounds":[]}]}}]}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		pb, err := otlpJSONToProto(body)
		if err != nil {
			return
		}
		s := newParseServer(t, newFakeStore(t))
		ing := parseWith(s, s.pmOTLP, func(ing *ingester) { _ = s.decodeOTLP(ing, pb) })
		s.putIngester(ing)
	})
}
