package httpfast

import (
	"math"
	"strconv"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// FuzzRemoteReadRequest: any body either decodes into queries with valid
// matchers and a supported response type, or is an error; never a panic.
func FuzzRemoteReadRequest(f *testing.F) {
	for _, req := range []*prompb.ReadRequest{
		{},
		{Queries: []*prompb.Query{{StartTimestampMs: 1, EndTimestampMs: 2, Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "up"}}}}},
		{Queries: []*prompb.Query{{Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_RE, Name: "a", Value: "b.*"}, {Type: prompb.LabelMatcher_NRE, Name: "c", Value: "("}}}},
			AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS}},
		{AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{9}},
	} {
		b, err := req.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		addSeed(f, "FuzzRemoteReadRequest", snappy.Encode(nil, b))
	}
	addSeed(f, "FuzzRemoteReadRequest", []byte("not snappy"))
	f.Fuzz(func(t *testing.T, body []byte) {
		qs, typ, err := decodeReadRequest(body)
		if err != nil {
			if qs != nil {
				t.Fatal("queries with an error")
			}
			return
		}
		if typ != prompb.ReadRequest_SAMPLES && typ != prompb.ReadRequest_STREAMED_XOR_CHUNKS {
			t.Fatalf("response type %v", typ)
		}
		for _, q := range qs {
			for _, m := range q.ms {
				if m == nil {
					t.Fatal("nil matcher")
				}
			}
		}
	})
}

// FuzzParseTimeDuration: the parameter parsers never panic, and what
// parses as a time from unix seconds is within a millisecond of it.
func FuzzParseTimeDuration(f *testing.F) {
	for _, s := range []string{"1700000000", "1700000000.123", "2023-11-14T22:13:20Z", "2023-11-14T22:13:20.5+01:00",
		"-292273086-05-16T16:47:06Z", "1e400", "NaN", "-1", "1m30s", "15", "0.5", "1y", "abc", ""} {
		addSeed(f, "FuzzParseTimeDuration", s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, terr := parseTime(s)
		if v, err := strconv.ParseFloat(s, 64); err == nil && math.Abs(v) < 1e12 {
			if terr != nil {
				t.Fatalf("%q: %v", s, terr)
			}
			if got, want := toMillis(tm), math.Round(v*1000); math.Abs(float64(got)-want) > 1 {
				t.Fatalf("%q: %d ms, want about %v", s, got, want)
			}
		}
		if d, err := parseDuration(s); err == nil {
			if v, ferr := strconv.ParseFloat(s, 64); ferr == nil && math.Abs(float64(d)-v*1e9) > 1e-6*math.Abs(v*1e9)+1 {
				t.Fatalf("%q: %v", s, d)
			}
		}
		_, _ = parseLimit(s)
	})
}
