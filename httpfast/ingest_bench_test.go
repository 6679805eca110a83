package httpfast

import (
	"testing"
)

var benchSink int

// BenchmarkParse measures the parsers alone on a node_exporter-like body
// of 10 hosts (5,070 series, one sample each), every series in the route
// cache (the steady state of a scrape every 15 s): lines/s and samples/s,
// with allocations per op (one op = one request body).
func BenchmarkParse(b *testing.B) {
	ls, vs := nodeScrape(b, 10)
	st := newFakeStore(b)
	s := newParseServer(b, st)
	prec, _ := parsePrecision(nil, false)
	lp := influxBody(ls, vs, 1e18)
	v1 := remoteV1Body(b, ls, vs, 1e12)
	v2 := remoteV2Body(b, ls, vs, 1e12)
	for _, tc := range []struct {
		name  string
		pm    *protoMetrics
		body  []byte
		parse func(*ingester)
	}{
		{"influx", s.pmInflux, lp, func(ing *ingester) { s.parseInflux(ing, lp, prec, nil) }},
		{"remote_write_v1", s.pmRemote, v1, func(ing *ingester) { _ = s.decodeRemoteV1(ing, v1) }},
		{"remote_write_v2", s.pmRemoteV2, v2, func(ing *ingester) { _ = s.decodeRemoteV2(ing, v2) }},
	} {
		b.Run("protocol="+tc.name, func(b *testing.B) {
			run := func() {
				ing := parseWith(s, tc.pm, tc.parse)
				benchSink += ing.res.accepted
				s.putIngester(ing)
			}
			st.learn = true
			run() // learn every key
			st.learn = false
			before := st.samples
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				run()
			}
			n := float64(st.samples - before)
			b.ReportMetric(n/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(n/float64(b.N), "samples/op")
		})
	}
}
