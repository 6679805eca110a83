package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/silverback-tsdb/tsdb/stages"
)

// recorder is a Target that keeps a copy of every payload. Safe for
// concurrent use.
type recorder struct {
	mu       sync.Mutex
	payloads []Payload
}

func (r *recorder) Send(_ context.Context, p *Payload) error {
	c := Payload{Protocol: p.Protocol, Body: bytes.Clone(p.Body), RawBytes: p.RawBytes, Samples: p.Samples}
	if p.Batch != nil {
		c.Batch = &stages.Batch{
			Series:  slices.Clone(p.Batch.Series),
			Samples: slices.Clone(p.Batch.Samples),
		}
	}
	r.mu.Lock()
	r.payloads = append(r.payloads, c)
	r.mu.Unlock()
	return nil
}

// point is one decoded sample; v is the value's bits.
type point struct {
	t int64
	v uint64
}

// decoded maps a series (labels.Labels.String()) to its samples in the
// order the requests carried them.
type decoded map[string][]point

// decodeAll decodes every recorded payload with a decoder independent of
// the encoders (prompb's generated code for remote write, a line parser
// for influx, a protowire walk for OTLP) and checks that each payload's
// Samples matches its content.
func decodeAll(t *testing.T, r *recorder) decoded {
	t.Helper()
	out := decoded{}
	for i, p := range r.payloads {
		before := countPoints(out)
		switch p.Protocol {
		case ProtocolInflux:
			decodeInflux(t, p.Body, out)
		case ProtocolRW1:
			decodeRW1(t, p.Body, out)
		case ProtocolRW2:
			decodeRW2(t, p.Body, out)
		case ProtocolOTLP:
			decodeOTLP(t, p.Body, out)
		case ProtocolInProcess:
			for _, s := range p.Batch.Samples {
				k := p.Batch.Series[s.Series].Labels.String()
				out[k] = append(out[k], point{s.T, math.Float64bits(s.V)})
			}
		}
		require.Equal(t, p.Samples, countPoints(out)-before, "payload %d", i)
	}
	return out
}

func countPoints(d decoded) int {
	n := 0
	for _, ps := range d {
		n += len(ps)
	}
	return n
}

// decodeInflux parses line protocol with the escapes the spec defines.
func decodeInflux(t *testing.T, body []byte, out decoded) {
	t.Helper()
	require.True(t, len(body) == 0 || body[len(body)-1] == '\n', "body ends with a newline")
	for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		// Split at unescaped spaces: series key, fields, timestamp.
		var parts []string
		var cur strings.Builder
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case c == '\\' && i+1 < len(line):
				cur.WriteByte(c)
				cur.WriteByte(line[i+1])
				i++
			case c == ' ':
				parts = append(parts, cur.String())
				cur.Reset()
			default:
				cur.WriteByte(c)
			}
		}
		parts = append(parts, cur.String())
		require.Len(t, parts, 3, "line %q", line)
		key := splitUnescaped(parts[0], ',')
		b := labels.NewBuilder(labels.EmptyLabels())
		b.Set(model.MetricNameLabel, unescapeInflux(key[0]))
		for _, kv := range key[1:] {
			p := splitUnescaped(kv, '=')
			require.Len(t, p, 2, "tag %q", kv)
			b.Set(unescapeInflux(p[0]), unescapeInflux(p[1]))
		}
		field, ok := strings.CutPrefix(parts[1], "value=")
		require.True(t, ok, "field %q", parts[1])
		v, err := strconv.ParseFloat(field, 64)
		require.NoError(t, err)
		ns, err := strconv.ParseInt(parts[2], 10, 64)
		require.NoError(t, err)
		require.Zero(t, ns%1e6, "timestamps are whole milliseconds")
		k := b.Labels().String()
		out[k] = append(out[k], point{ns / 1e6, math.Float64bits(v)})
	}
}

func splitUnescaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unescapeInflux(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(", =", s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func decodeRW1(t *testing.T, body []byte, out decoded) {
	t.Helper()
	raw, err := snappy.Decode(nil, body)
	require.NoError(t, err)
	var req prompb.WriteRequest
	require.NoError(t, req.Unmarshal(raw))
	for _, ts := range req.Timeseries {
		b := labels.NewScratchBuilder(len(ts.Labels))
		for i, l := range ts.Labels {
			if i > 0 {
				require.Less(t, ts.Labels[i-1].Name, l.Name, "labels are sorted")
			}
			b.Add(l.Name, l.Value)
		}
		k := b.Labels().String()
		for _, s := range ts.Samples {
			out[k] = append(out[k], point{s.Timestamp, math.Float64bits(s.Value)})
		}
	}
}

func decodeRW2(t *testing.T, body []byte, out decoded) {
	t.Helper()
	raw, err := snappy.Decode(nil, body)
	require.NoError(t, err)
	var req writev2.Request
	require.NoError(t, req.Unmarshal(raw))
	require.Equal(t, "", req.Symbols[0], "symbols start with the empty string")
	seen := map[string]bool{}
	for _, s := range req.Symbols {
		require.False(t, seen[s], "symbol %q twice", s)
		seen[s] = true
	}
	for _, ts := range req.Timeseries {
		var b labels.ScratchBuilder
		ls, err := ts.ToLabels(&b, req.Symbols)
		require.NoError(t, err)
		require.Equal(t, 0, len(ts.LabelsRefs)%2)
		k := ls.String()
		typ := ts.Metadata.Type
		require.NotEqual(t, writev2.Metadata_METRIC_TYPE_HISTOGRAM, typ)
		if strings.HasSuffix(ls.Get(model.MetricNameLabel), "_total") {
			require.Equal(t, writev2.Metadata_METRIC_TYPE_COUNTER, typ, "%s", k)
		}
		for _, s := range ts.Samples {
			out[k] = append(out[k], point{s.Timestamp, math.Float64bits(s.Value)})
		}
	}
}

// decodeOTLP walks an ExportMetricsServiceRequest with protowire, field by
// field (numbers from the OTLP .proto files, written here independently of
// format.go).
func decodeOTLP(t *testing.T, body []byte, out decoded) {
	t.Helper()
	for _, rm := range fields(t, body, 1) { // resource_metrics
		var job, instance string
		for _, res := range fields(t, rm, 1) { // resource
			for _, kv := range fields(t, res, 1) { // attributes
				k, v := keyValue(t, kv)
				switch k {
				case "service.name":
					job = v
				case "service.instance.id":
					instance = v
				}
			}
		}
		for _, sm := range fields(t, rm, 2) { // scope_metrics
			for _, m := range fields(t, sm, 2) { // metrics
				name := string(only(t, fields(t, m, 1)))
				data := fields(t, m, 5) // gauge
				sum := fields(t, m, 7)
				if len(sum) > 0 {
					data = sum
					s := sum[0]
					require.Equal(t, uint64(2), varintField(t, s, 2), "cumulative")
					require.Equal(t, uint64(1), varintField(t, s, 3), "monotonic")
				}
				require.Len(t, data, 1, "metric %s has one of gauge, sum", name)
				for _, dp := range fields(t, data[0], 1) {
					b := labels.NewBuilder(labels.EmptyLabels())
					b.Set(model.MetricNameLabel, name)
					b.Set("job", job)
					b.Set("instance", instance)
					for _, kv := range fields(t, dp, 7) {
						k, v := keyValue(t, kv)
						b.Set(k, v)
					}
					ns := fixedField(t, dp, 3)
					if len(sum) > 0 {
						require.NotZero(t, fixedField(t, dp, 2), "start time of a sum")
					}
					k := b.Labels().String()
					out[k] = append(out[k], point{int64(ns / 1e6), fixedField(t, dp, 4)})
				}
			}
		}
	}
}

// fields returns the payloads of the bytes fields num of message b.
func fields(t *testing.T, b []byte, num protowire.Number) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		require.GreaterOrEqual(t, l, 0)
		b = b[l:]
		l = protowire.ConsumeFieldValue(n, typ, b)
		require.GreaterOrEqual(t, l, 0)
		if n == num {
			require.Equal(t, protowire.BytesType, typ)
			v, _ := protowire.ConsumeBytes(b)
			out = append(out, v)
		}
		b = b[l:]
	}
	return out
}

func fixedField(t *testing.T, b []byte, num protowire.Number) uint64 {
	t.Helper()
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		b = b[l:]
		if n == num {
			require.Equal(t, protowire.Fixed64Type, typ)
			v, _ := protowire.ConsumeFixed64(b)
			return v
		}
		b = b[protowire.ConsumeFieldValue(n, typ, b):]
	}
	t.Fatalf("no fixed64 field %d", num)
	return 0
}

func varintField(t *testing.T, b []byte, num protowire.Number) uint64 {
	t.Helper()
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		b = b[l:]
		if n == num {
			require.Equal(t, protowire.VarintType, typ)
			v, _ := protowire.ConsumeVarint(b)
			return v
		}
		b = b[protowire.ConsumeFieldValue(n, typ, b):]
	}
	t.Fatalf("no varint field %d", num)
	return 0
}

func keyValue(t *testing.T, kv []byte) (string, string) {
	t.Helper()
	k := string(only(t, fields(t, kv, 1)))
	v := string(only(t, fields(t, only(t, fields(t, kv, 2)), 1)))
	return k, v
}

func only(t *testing.T, bs [][]byte) []byte {
	t.Helper()
	require.Len(t, bs, 1)
	return bs[0]
}

// reference generates what the node workloads must send: per host, the
// hostModel stream of NodeExporter, until end.
func reference(t *testing.T, c Config, end int64) decoded {
	t.Helper()
	c, err := c.withDefaults(c.Start)
	require.NoError(t, err)
	s, err := newShape(&c)
	require.NoError(t, err)
	out := decoded{}
	var scratch []labels.Label
	for id := range c.Hosts {
		h := s.newHost(id, id)
		for h.src.nextT() < end {
			h.src.scrape(h)
			for i, v := range h.vals {
				scratch = s.fillLabels(scratch, h, i)
				k := labels.New(scratch...).String()
				out[k] = append(out[k], point{h.cur, math.Float64bits(v)})
			}
		}
	}
	return out
}

// TestWire_RoundTrip sends a backfill of three hosts in requests that split
// hosts, decodes every request independently and compares each series'
// samples, bit-exact, with the generator's.
func TestWire_RoundTrip(t *testing.T) {
	for _, p := range Protocols {
		t.Run("protocol="+string(p), func(t *testing.T) {
			var r recorder
			c := Config{
				Workload: WorkloadBackfill, Protocol: p, Target: &r, Hosts: 3, Seed: 5,
				Start: benchStart, BackfillRange: 10 * DefaultInterval, Concurrency: 2, Batch: 700,
			}
			sum, err := Run(context.Background(), c)
			require.NoError(t, err)
			got := decodeAll(t, &r)
			want := reference(t, c, c.Start+c.BackfillRange.Milliseconds())
			require.Equal(t, len(want), len(got), "series")
			for k, w := range want {
				require.Equal(t, w, got[k], "series %s", k)
			}
			require.Equal(t, int64(countPoints(want)), sum.Samples)
			require.Equal(t, int64(len(r.payloads)), sum.Requests)
			require.Zero(t, sum.RequestsFailed)
		})
	}
}

// TestWire_Deterministic: the same configuration sends the same bytes; a
// other seed other bytes.
func TestWire_Deterministic(t *testing.T) {
	run := func(p Protocol, seed int64) []byte {
		var r recorder
		_, err := Run(context.Background(), Config{
			Workload: WorkloadBackfill, Protocol: p, Target: &r, Hosts: 2, Seed: seed,
			Start: benchStart, BackfillRange: 5 * DefaultInterval, Concurrency: 1,
		})
		require.NoError(t, err)
		var all []byte
		for _, p := range r.payloads {
			all = append(all, p.Body...)
			if p.Batch != nil {
				for _, s := range p.Batch.Samples {
					all = fmt.Appendf(all, "%s %d %x;", p.Batch.Series[s.Series].Labels, s.T, math.Float64bits(s.V))
				}
			}
		}
		return all
	}
	for _, p := range Protocols {
		t.Run("protocol="+string(p), func(t *testing.T) {
			a, b := run(p, 1), run(p, 1)
			require.NotEmpty(t, a)
			require.Equal(t, a, b)
			require.NotEqual(t, a, run(p, 2))
		})
	}
}

// TestRWTimestamp_FixedWidth checks the 6-byte timestamp slot against
// protowire's decoder over the documented range, and the padding of short
// varints.
func TestRWTimestamp_FixedWidth(t *testing.T) {
	for _, ts := range []int64{rwTSMin, benchStart, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), rwTSMax} {
		b := rwTimestamp(ts)
		require.Equal(t, rwTSLen, protowire.SizeVarint(uint64(ts)), "canonical width at %d", ts)
		v, n := protowire.ConsumeVarint(b[:])
		require.Equal(t, rwTSLen, n)
		require.Equal(t, uint64(ts), v)
	}
	var b [3]byte
	putVarintFixed(b[:], 5)
	v, n := protowire.ConsumeVarint(b[:])
	require.Equal(t, 3, n)
	require.Equal(t, uint64(5), v)
}

func TestRun_RemoteWriteRefusesStartOutOfRange(t *testing.T) {
	_, err := Run(context.Background(), Config{Protocol: ProtocolRW1, Target: &NullTarget{}, Start: 1000})
	require.ErrorContains(t, err, "start")
}

// TestWorker_StepAllocsZero: in steady state a scrape of a host — values,
// encoding, requests sent to a null target — allocates nothing, for every
// protocol.
func TestWorker_StepAllocsZero(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact under -race")
	}
	for _, p := range Protocols {
		t.Run("protocol="+string(p), func(t *testing.T) {
			w := newBenchWorker(t, p, 10, &NullTarget{})
			ctx := context.Background()
			// Warm up until every buffer has met its largest request.
			for range 3000 {
				require.NoError(t, w.step(ctx, ctx))
			}
			allocs := testing.AllocsPerRun(500, func() {
				if err := w.step(ctx, ctx); err != nil {
					t.Fatal(err)
				}
			})
			require.Zero(t, allocs)
		})
	}
}
