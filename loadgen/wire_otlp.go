package loadgen

import (
	"encoding/binary"
	"math"

	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/encoding/protowire"
)

// otlpEncoder writes OTLP/HTTP protobuf: an ExportMetricsServiceRequest
// with one ResourceMetrics per host and request (resource attributes
// service.name = job, service.instance.id = instance; one scope,
// "silverback-loadgen"), one Metric per run of series with the same name
// (name and the HELP text as description): counters as cumulative
// monotonic Sums with start_time_unix_nano set to the host's start, the
// rest as Gauges; the series' other labels as data point attributes.
//
// Data points carry no host label, so one pre-encoded copy of every data
// point serves every host; a request copies them and patches their fixed64
// times and double values. The Metric and ResourceMetrics lengths depend
// on which series a request carries and are computed per request.
type otlpEncoder struct {
	s      *shape
	points []byte  // every series' NumberDataPoint field, concatenated
	off    []int32 // series i's point is points[off[i]:off[i+1]]
	tAt    []int32 // offset of series i's time_unix_nano in points
	sum    []bool  // per series: a Sum (else a Gauge)
	head   [][]byte
	scope  []byte // ScopeMetrics.scope field
	hosts  [][]byte
	buf    []byte
}

func newOTLPEncoder(s *shape) *otlpEncoder {
	e := &otlpEncoder{s: s, off: []int32{0}}
	var kv, any, dp []byte
	for i := range s.numSeries() {
		ss := &s.series[i]
		dp = dp[:0]
		for k, l := range ss.labels {
			if l.Name == model.MetricNameLabel || k == ss.instanceAt || k == ss.jobAt || l.Value == "" {
				continue
			}
			kv = appendOTLPKeyValue(kv[:0], &any, l.Name, l.Value)
			dp = protowire.AppendTag(dp, otlpPointAttributes, protowire.BytesType)
			dp = protowire.AppendBytes(dp, kv)
		}
		sum := ss.typ == typeCounter
		if sum {
			dp = protowire.AppendTag(dp, otlpPointStartTime, protowire.Fixed64Type)
			dp = append(dp, make([]byte, 8)...)
		}
		dp = protowire.AppendTag(dp, otlpPointTime, protowire.Fixed64Type)
		tAt := len(dp)
		dp = append(dp, make([]byte, 8)...)
		dp = protowire.AppendTag(dp, otlpPointAsDouble, protowire.Fixed64Type)
		dp = append(dp, make([]byte, 8)...)
		e.points = protowire.AppendTag(e.points, otlpGaugeDataPoints, protowire.BytesType) // = Sum's
		e.points = protowire.AppendVarint(e.points, uint64(len(dp)))
		e.tAt = append(e.tAt, int32(len(e.points)+tAt))
		e.points = append(e.points, dp...)
		e.off = append(e.off, int32(len(e.points)))
		e.sum = append(e.sum, sum)
		var h []byte
		if ss.groupStart == i {
			h = protowire.AppendTag(h, otlpMetricName, protowire.BytesType)
			h = protowire.AppendString(h, ss.name)
			if ss.help != "" {
				h = protowire.AppendTag(h, otlpMetricDescription, protowire.BytesType)
				h = protowire.AppendString(h, ss.help)
			}
		}
		e.head = append(e.head, h)
	}
	var sc []byte
	sc = protowire.AppendTag(sc, otlpScopeName, protowire.BytesType)
	sc = protowire.AppendString(sc, otlpScope)
	e.scope = protowire.AppendTag(e.scope, otlpScopeMetricsScope, protowire.BytesType)
	e.scope = protowire.AppendBytes(e.scope, sc)
	return e
}

// appendOTLPKeyValue appends a KeyValue message (key, string AnyValue).
func appendOTLPKeyValue(dst []byte, scratch *[]byte, key, value string) []byte {
	*scratch = protowire.AppendTag((*scratch)[:0], otlpAnyValueString, protowire.BytesType)
	*scratch = protowire.AppendString(*scratch, value)
	dst = protowire.AppendTag(dst, otlpKeyValueKey, protowire.BytesType)
	dst = protowire.AppendString(dst, key)
	dst = protowire.AppendTag(dst, otlpKeyValueValue, protowire.BytesType)
	return protowire.AppendBytes(dst, *scratch)
}

// The tail of a Sum after its data points: cumulative, monotonic.
var otlpSumTail = []byte{
	byte(otlpSumTemporality)<<3 | byte(protowire.VarintType), otlpTemporalityCumulative,
	byte(otlpSumMonotonic)<<3 | byte(protowire.VarintType), 1,
}

func (e *otlpEncoder) prepare(h *host) error {
	for len(e.hosts) <= h.local {
		e.hosts = append(e.hosts, nil)
	}
	var res, kv, any []byte
	kv = appendOTLPKeyValue(kv, &any, otlpAttrServiceName, e.s.job)
	res = protowire.AppendTag(res, otlpResourceAttributes, protowire.BytesType)
	res = protowire.AppendBytes(res, kv)
	kv = appendOTLPKeyValue(kv[:0], &any, otlpAttrServiceInstanceID, h.instance)
	res = protowire.AppendTag(res, otlpResourceAttributes, protowire.BytesType)
	res = protowire.AppendBytes(res, kv)
	b := protowire.AppendTag(e.hosts[h.local][:0], otlpResourceMetricsResource, protowire.BytesType)
	e.hosts[h.local] = protowire.AppendBytes(b, res)
	return nil
}

// groupEnd returns the end of the run of same-name series that series k
// belongs to, at most j.
func (e *otlpEncoder) groupEnd(k, j int) int {
	start := e.s.series[k].groupStart
	for k < j && e.s.series[k].groupStart == start {
		k++
	}
	return k
}

// pointsLen is the size of the present data points of series [k, end).
func (e *otlpEncoder) pointsLen(h *host, k, end int) (size, n int) {
	if h.skip == nil {
		return int(e.off[end] - e.off[k]), end - k
	}
	for ; k < end; k++ {
		if !h.skip[k] {
			size += int(e.off[k+1] - e.off[k])
			n++
		}
	}
	return size, n
}

// metricLen is the size of the Metric message of the group [k, end) with
// data points of size points.
func (e *otlpEncoder) metricLen(k, points int) (metric, data int) {
	data = points
	if e.sum[k] {
		data += len(otlpSumTail)
	}
	g := e.s.series[k].groupStart
	return len(e.head[g]) + 1 + protowire.SizeVarint(uint64(data)) + data, data
}

func (e *otlpEncoder) add(h *host, i, j int) int {
	// Pass 1: sizes, so that every length prefix is written before its
	// message.
	scopeLen := len(e.scope)
	for k := i; k < j; {
		end := e.groupEnd(k, j)
		if size, n := e.pointsLen(h, k, end); n > 0 {
			m, _ := e.metricLen(k, size)
			scopeLen += 1 + protowire.SizeVarint(uint64(m)) + m
		}
		k = end
	}
	res := e.hosts[h.local]
	rmLen := len(res) + 1 + protowire.SizeVarint(uint64(scopeLen)) + scopeLen
	e.buf = grow(e.buf, rmLen+16)
	e.buf = protowire.AppendTag(e.buf, otlpRequestResourceMetrics, protowire.BytesType)
	e.buf = protowire.AppendVarint(e.buf, uint64(rmLen))
	e.buf = append(e.buf, res...)
	e.buf = protowire.AppendTag(e.buf, otlpResourceMetricsScope, protowire.BytesType)
	e.buf = protowire.AppendVarint(e.buf, uint64(scopeLen))
	e.buf = append(e.buf, e.scope...)
	tNs := uint64(h.cur) * 1e6
	startNs := uint64(h.birth) * 1e6
	n := 0
	// Pass 2: write.
	for k := i; k < j; {
		end := e.groupEnd(k, j)
		size, pn := e.pointsLen(h, k, end)
		if pn == 0 {
			k = end
			continue
		}
		m, data := e.metricLen(k, size)
		sum := e.sum[k]
		e.buf = protowire.AppendTag(e.buf, otlpScopeMetricsMetrics, protowire.BytesType)
		e.buf = protowire.AppendVarint(e.buf, uint64(m))
		e.buf = append(e.buf, e.head[e.s.series[k].groupStart]...)
		if sum {
			e.buf = protowire.AppendTag(e.buf, otlpMetricSum, protowire.BytesType)
		} else {
			e.buf = protowire.AppendTag(e.buf, otlpMetricGauge, protowire.BytesType)
		}
		e.buf = protowire.AppendVarint(e.buf, uint64(data))
		for ; k < end; k++ {
			if h.skip != nil && h.skip[k] {
				continue
			}
			base := len(e.buf) - int(e.off[k])
			e.buf = append(e.buf, e.points[e.off[k]:e.off[k+1]]...)
			at := base + int(e.tAt[k])
			binary.LittleEndian.PutUint64(e.buf[at:], tNs)
			binary.LittleEndian.PutUint64(e.buf[at+9:], math.Float64bits(h.vals[k]))
			if sum {
				binary.LittleEndian.PutUint64(e.buf[at-9:], startNs)
			}
			n++
		}
		if sum {
			e.buf = append(e.buf, otlpSumTail...)
		}
	}
	return n
}

func (e *otlpEncoder) finish(p *Payload) {
	p.Body, p.RawBytes = e.buf, len(e.buf)
	e.buf = e.buf[:0]
}
