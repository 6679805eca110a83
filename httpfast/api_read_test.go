package httpfast

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
)

func readRequest(t *testing.T, types []prompb.ReadRequest_ResponseType, qs ...*prompb.Query) []byte {
	t.Helper()
	b, err := (&prompb.ReadRequest{Queries: qs, AcceptedResponseTypes: types}).Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, b)
}

func eqMatcher(name, value string) *prompb.LabelMatcher {
	return &prompb.LabelMatcher{Type: prompb.LabelMatcher_EQ, Name: name, Value: value}
}

func TestRemoteRead_Samples(t *testing.T) {
	ts := newAPITestServer(t)
	body := readRequest(t, nil,
		&prompb.Query{StartTimestampMs: 1700000000000, EndTimestampMs: 1700000015000, Matchers: []*prompb.LabelMatcher{eqMatcher("__name__", "up")}},
		&prompb.Query{StartTimestampMs: 1700000001000, EndTimestampMs: 1700000020000, Matchers: []*prompb.LabelMatcher{
			eqMatcher("__name__", "http_requests_total"), {Type: prompb.LabelMatcher_RE, Name: "code", Value: "2.."}}},
	)
	r := ts.post("/api/v1/read", body, "Content-Type", "application/x-protobuf", "Content-Encoding", "snappy")
	require.Equal(t, 200, r.code, r.body)
	require.Equal(t, "application/x-protobuf", r.headers["Content-Type"])
	require.Equal(t, "snappy", r.headers["Content-Encoding"])
	raw, err := snappy.Decode(nil, []byte(r.body))
	require.NoError(t, err)
	var resp prompb.ReadResponse
	require.NoError(t, resp.Unmarshal(raw))
	require.Len(t, resp.Results, 2)
	require.Len(t, resp.Results[0].Timeseries, 2)
	require.Equal(t, []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "instance", Value: "x:9100"}, {Name: "job", Value: "node"}}, resp.Results[0].Timeseries[0].Labels)
	require.Equal(t, []prompb.Sample{{Value: 1, Timestamp: 1700000000000}, {Value: 1, Timestamp: 1700000015000}}, resp.Results[0].Timeseries[0].Samples)
	require.Equal(t, []prompb.Sample{{Value: 0, Timestamp: 1700000000000}, {Value: 1, Timestamp: 1700000015000}}, resp.Results[0].Timeseries[1].Samples)
	// The second query's range starts after the first sample.
	require.Len(t, resp.Results[1].Timeseries, 1)
	require.Equal(t, []prompb.Sample{{Value: 25, Timestamp: 1700000015000}}, resp.Results[1].Timeseries[0].Samples)
}

// readFrames parses a streamed response, checking every frame's CRC.
func readFrames(t *testing.T, body []byte) []*prompb.ChunkedReadResponse {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(body))
	var out []*prompb.ChunkedReadResponse
	for {
		n, err := binary.ReadUvarint(br)
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		var crc [4]byte
		_, err = io.ReadFull(br, crc[:])
		require.NoError(t, err)
		msg := make([]byte, n)
		_, err = io.ReadFull(br, msg)
		require.NoError(t, err)
		require.Equal(t, binary.BigEndian.Uint32(crc[:]), crc32.Checksum(msg, crc32.MakeTable(crc32.Castagnoli)), "frame CRC")
		var m prompb.ChunkedReadResponse
		require.NoError(t, m.Unmarshal(msg))
		out = append(out, &m)
	}
}

func TestRemoteRead_StreamedXORChunks(t *testing.T) {
	ts := newTestServer(t)
	// One long series (nine chunks of at most 120 samples) and one short.
	var sb strings.Builder
	const n = 1000
	for i := range n {
		fmt.Fprintf(&sb, "long{a=\"1\"} %d %d\n", i, 1_700_000_000_000+int64(i)*1000)
	}
	sb.WriteString("short{a=\"2\"} 3.5 1700000000000\n")
	require.Equal(t, 204, ts.post("/api/v1/import/prometheus", []byte(sb.String())).code)
	ts.s.SetQueryBackend(&QueryBackend{DB: ts.db})

	body := readRequest(t, []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS, prompb.ReadRequest_SAMPLES},
		&prompb.Query{StartTimestampMs: 0, EndTimestampMs: math.MaxInt64, Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_RE, Name: "__name__", Value: "long|short"}}},
		&prompb.Query{StartTimestampMs: 0, EndTimestampMs: math.MaxInt64, Matchers: []*prompb.LabelMatcher{eqMatcher("__name__", "short")}},
	)
	r := ts.post("/api/v1/read", body)
	require.Equal(t, 200, r.code, r.body)
	require.Equal(t, "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse", r.headers["Content-Type"])
	frames := readFrames(t, []byte(r.body))
	got := map[string][]prompb.Sample{}
	var order []string
	for _, f := range frames {
		require.Len(t, f.ChunkedSeries, 1)
		cs := f.ChunkedSeries[0]
		key := fmt.Sprint(f.QueryIndex)
		for _, l := range cs.Labels {
			key += " " + l.Name + "=" + l.Value
		}
		if len(order) == 0 || order[len(order)-1] != key {
			order = append(order, key)
		}
		for _, c := range cs.Chunks {
			require.Equal(t, prompb.Chunk_XOR, c.Type)
			xc, err := chunkenc.FromData(chunkenc.EncXOR, c.Data)
			require.NoError(t, err)
			it := xc.Iterator(nil)
			first := true
			var last int64
			for it.Next() == chunkenc.ValFloat {
				tt, v := it.At()
				if first {
					require.Equal(t, c.MinTimeMs, tt)
					first = false
				}
				last = tt
				got[key] = append(got[key], prompb.Sample{Timestamp: tt, Value: v})
			}
			require.NoError(t, it.Err())
			require.Equal(t, c.MaxTimeMs, last)
		}
	}
	require.Equal(t, []string{
		"0 __name__=long a=1", "0 __name__=short a=2", "1 __name__=short a=2",
	}, order)
	long := got["0 __name__=long a=1"]
	require.Len(t, long, n)
	for i, s := range long {
		require.Equal(t, prompb.Sample{Timestamp: 1_700_000_000_000 + int64(i)*1000, Value: float64(i)}, s)
	}
	require.Equal(t, []prompb.Sample{{Timestamp: 1700000000000, Value: 3.5}}, got["1 __name__=short a=2"])
}

func TestRemoteRead_Malformed(t *testing.T) {
	ts := newAPITestServer(t)
	for _, c := range []struct {
		name string
		body []byte
		want string
	}{
		{"not snappy", []byte("\xff\xff\xff\xff\xff"), "snappy"},
		{"not proto", snappy.Encode(nil, []byte("\xff\xff\xff")), "ReadRequest"},
		{"bad regexp", readRequest(t, nil, &prompb.Query{Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_RE, Name: "a", Value: "("}}}), "query 0"},
		{"unsupported type", readRequest(t, []prompb.ReadRequest_ResponseType{7}, &prompb.Query{}), "response types"},
	} {
		r := ts.post("/api/v1/read", c.body)
		require.Equal(t, 400, r.code, c.name)
		require.Contains(t, r.body, c.want, c.name)
	}
}

func TestRemoteRead_ConcurrencyBound(t *testing.T) {
	ts := newAPITestServer(t, func(o *Options) { o.Limits.QueueTimeout = 10 * time.Millisecond })
	body := readRequest(t, nil, &prompb.Query{StartTimestampMs: 0, EndTimestampMs: math.MaxInt64, Matchers: []*prompb.LabelMatcher{eqMatcher("__name__", "up")}})
	for range maxConcurrentReads {
		ts.s.readGate <- struct{}{} // every slot taken
	}
	r := ts.post("/api/v1/read", body)
	require.Equal(t, 503, r.code, r.body)
	require.Contains(t, r.body, "remote reads are running")
	for range maxConcurrentReads {
		<-ts.s.readGate
	}
	// Both answer types give their slot back.
	for range 2 * maxConcurrentReads {
		require.Equal(t, 200, ts.post("/api/v1/read", body).code)
		streamed := readRequest(t, []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS}, &prompb.Query{StartTimestampMs: 0, EndTimestampMs: math.MaxInt64, Matchers: []*prompb.LabelMatcher{eqMatcher("__name__", "up")}})
		require.Equal(t, 200, ts.post("/api/v1/read", streamed).code)
	}
	require.Eventually(t, func() bool { return len(ts.s.readGate) == 0 }, 5*time.Second, time.Millisecond)
}
