package httpfast

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// nodeScrape returns n hosts' node_exporter-like series (loadgen) as
// labels and values of one scrape at t.
func nodeScrape(t testing.TB, hosts int) ([]labels.Labels, []float64) {
	t.Helper()
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: hosts, Seed: 1})
	require.NoError(t, err)
	smp := g.Next(nil)
	ls := make([]labels.Labels, len(smp))
	vs := make([]float64, len(smp))
	for i, s := range smp {
		ls[i] = g.Labels(s.Series)
		vs[i] = s.V
	}
	return ls, vs
}

// influxBody renders series as line protocol: the metric name is the
// measurement with a "value" field, labels are tags.
func influxBody(ls []labels.Labels, vs []float64, tNanos int64) []byte {
	var b bytes.Buffer
	for i, l := range ls {
		b.WriteString(l.Get("__name__"))
		l.Range(func(lb labels.Label) {
			if lb.Name == "__name__" || lb.Value == "" {
				return // line protocol has no empty tag values; the label is absent anyway
			}
			b.WriteByte(',')
			b.WriteString(lb.Name)
			b.WriteByte('=')
			b.WriteString(strings.NewReplacer(" ", `\ `, ",", `\,`, "=", `\=`).Replace(lb.Value))
		})
		fmt.Fprintf(&b, " value=%g %d\n", vs[i], tNanos)
	}
	return b.Bytes()
}

func remoteV1Body(t testing.TB, ls []labels.Labels, vs []float64, tMillis int64) []byte {
	var series []prompb.TimeSeries
	for i, l := range ls {
		ts := prompb.TimeSeries{Samples: []prompb.Sample{{Timestamp: tMillis, Value: vs[i]}}}
		l.Range(func(lb labels.Label) { ts.Labels = append(ts.Labels, prompb.Label{Name: lb.Name, Value: lb.Value}) })
		series = append(series, ts)
	}
	return rwV1(t, series...)
}

func remoteV2Body(t testing.TB, ls []labels.Labels, vs []float64, tMillis int64) []byte {
	smp := make([][]writev2.Sample, len(ls))
	for i := range ls {
		smp[i] = []writev2.Sample{{Value: vs[i], Timestamp: tMillis}}
	}
	return rwV2(t, ls, smp, nil)
}

// TestIngest_ParseAllocsPerRun proves that parsing a known body (every
// series in the route cache, buffers grown) allocates nothing: not per
// line, not per sample, not per request.
func TestIngest_ParseAllocsPerRun(t *testing.T) {
	ls, vs := nodeScrape(t, 2)
	st := newFakeStore(t)
	s := newParseServer(t, st)
	prec, _ := parsePrecision(nil, false)
	lp := influxBody(ls, vs, 1e18)
	v1 := remoteV1Body(t, ls, vs, 1e12)
	v2 := remoteV2Body(t, ls, vs, 1e12)
	var tb bytes.Buffer
	for i, l := range ls {
		fmt.Fprintf(&tb, "%s %g 1000\n", textSeries(l), vs[i])
	}
	text := tb.Bytes()
	csv := []byte(strings.Repeat("host-a,0.5,1700000000\nhost-b,1.5,1700000000\n", 100))
	cs, err := parseCSVFormat([]byte("1:label:host,2:metric:load,3:time:unix_s"))
	require.NoError(t, err)
	js := jsonBody(ls, vs)
	otlp := otlpRequest(pbMsg(2, pbStr(1, "http.server.duration"), pbStr(3, "s"), pbMsg(7,
		pbMsg(1, otlpKV(7, "http.method", "GET"), pbFixed64(3, 1e18), pbDouble(4, 1.5)),
		pbMsg(1, otlpKV(7, "http.method", "PUT"), pbFixed64(3, 1e18), pbDouble(4, 2.5)),
		pbVarint(2, 2), pbVarint(3, 1))),
		pbMsg(2, pbStr(1, "rpc.size"), pbStr(3, "By"), pbMsg(9,
			pbMsg(1, pbFixed64(3, 1e18), pbFixed64(4, 5), pbDouble(5, 500), pbPacked(6, 2, 3), pbPacked(7, math.Float64bits(100))),
			pbVarint(2, 2))))
	for _, tc := range []struct {
		name    string
		pm      *protoMetrics
		samples int
		parse   func(*ingester)
	}{
		{"influx", s.pmInflux, len(ls), func(ing *ingester) { s.parseInflux(ing, lp, prec, nil) }},
		{"remote_write_v1", s.pmRemote, len(ls), func(ing *ingester) { _ = s.decodeRemoteV1(ing, v1) }},
		{"remote_write_v2", s.pmRemote, len(ls), func(ing *ingester) { _ = s.decodeRemoteV2(ing, v2) }},
		{"text", s.pmText, len(ls), func(ing *ingester) { s.parseText(ing, text, false) }},
		{"csv", s.pmCSV, 200, func(ing *ingester) { s.parseCSV(ing, csv, cs) }},
		{"json", s.pmJSON, len(ls), func(ing *ingester) { s.parseJSON(ing, js) }},
		{"otlp", s.pmOTLP, 7, func(ing *ingester) { _ = s.decodeOTLP(ing, otlp) }},
	} {
		t.Run("protocol="+tc.name, func(t *testing.T) {
			held := newIngester(s)
			run := func() {
				var ing *ingester
				if raceEnabled {
					// The race detector drops sync.Pool items at random:
					// reuse one ingester instead of the pool.
					ing = held
					s.resetIngester(ing, context.Background(), tc.pm)
					tc.parse(ing)
					ing.flush()
				} else {
					ing = parseWith(s, tc.pm, tc.parse)
				}
				if ing.res.parseErrs != 0 {
					t.Fatalf("parse errors: %+v", ing.res.problems)
				}
				if ing != held {
					s.putIngester(ing)
				}
			}
			before := st.samples
			run() // learn every key, grow every buffer
			require.Equal(t, tc.samples, st.samples-before)
			require.Zero(t, testing.AllocsPerRun(20, run))
		})
	}
}

// textSeries renders l in the text exposition format.
func textSeries(l labels.Labels) string {
	var b strings.Builder
	b.WriteString(l.Get("__name__"))
	first := true
	l.Range(func(lb labels.Label) {
		if lb.Name == "__name__" {
			return
		}
		if first {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%s=%q", lb.Name, lb.Value)
	})
	if !first {
		b.WriteByte('}')
	}
	return b.String()
}

func jsonBody(ls []labels.Labels, vs []float64) []byte {
	var b bytes.Buffer
	b.WriteString(`{"timeseries":[`)
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"labels":[`)
		j := 0
		l.Range(func(lb labels.Label) {
			if j > 0 {
				b.WriteByte(',')
			}
			j++
			fmt.Fprintf(&b, `{"name":%q,"value":%q}`, lb.Name, lb.Value)
		})
		fmt.Fprintf(&b, `],"samples":[{"timestamp":1000,"value":%g}]}`, vs[i])
	}
	b.WriteString("]}")
	return b.Bytes()
}

// TestIngest_NewSeriesRepeatedBuildOnce: a body that repeats series the
// route cache does not know yet (an import) builds each label set once per
// request, not once per line.
func TestIngest_NewSeriesRepeatedBuildOnce(t *testing.T) {
	st := newFakeStore(t)
	st.learn = false // the cache never learns: every request sees new series
	s := newParseServer(t, st)
	var b bytes.Buffer
	for i := range 2000 {
		fmt.Fprintf(&b, "imp,host=h%d value=%d %d\n", i%2, i, int64(i)*1e9)
	}
	body := b.Bytes()
	prec, _ := parsePrecision(nil, false)
	held := newIngester(s)
	run := func() {
		s.resetIngester(held, context.Background(), s.pmInflux)
		s.parseInflux(held, body, prec, nil)
		held.flush()
		require.Zero(t, held.res.parseErrs)
	}
	run()
	allocs := testing.AllocsPerRun(10, run)
	t.Logf("%.0f allocations for 2,000 lines of 2 new series", allocs)
	require.LessOrEqual(t, allocs, 8.0, "two label sets and their map entries, not one per line")
}
