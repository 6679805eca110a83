package httpfast

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"github.com/valyala/fasthttp"
	"google.golang.org/protobuf/encoding/protowire"
)

// OTLP/HTTP metrics (protobuf or JSON, gzip) on POST /opentelemetry/v1/metrics
// and /api/v1/otlp/v1/metrics, decoded with protowire. Field numbers from
// opentelemetry-proto (collector/metrics/v1, metrics/v1, common/v1):
//
//	ExportMetricsServiceRequest 1 resource_metrics
//	ResourceMetrics   1 resource (Resource: 1 attributes), 2 scope_metrics
//	ScopeMetrics      2 metrics
//	Metric            1 name, 2 description, 3 unit, 5 gauge, 7 sum,
//	                  9 histogram, 10 exponential_histogram, 11 summary
//	Gauge/Sum/...     1 data_points; Sum 2 aggregation_temporality, 3 is_monotonic
//	NumberDataPoint   7 attributes, 3 time_unix_nano (fixed64), 4 as_double, 6 as_int (sfixed64), 8 flags
//	HistogramDataPoint 9 attributes, 3 time, 4 count (fixed64), 5 sum, 6 bucket_counts (fixed64),
//	                  7 explicit_bounds (double), 10 flags
//	SummaryDataPoint  7 attributes, 3 time, 4 count, 5 sum, 6 quantile_values (1 quantile, 2 value), 8 flags
//	KeyValue          1 key, 2 value (AnyValue: 1 string, 2 bool, 3 int, 4 double)
//
// Translation follows Prometheus 3's default (otlptranslator
// UnderscoreEscapingWithSuffixes): names are split at characters outside
// [a-zA-Z0-9:] and joined with '_', the unit is appended as a word
// ("s" → seconds, "By" → bytes, "1" → nothing, "x/y" → x_per_y, {…}
// annotations dropped), monotonic cumulative sums get "_total", gauges of
// unit "1" get "_ratio"; attribute names have invalid characters replaced
// and runs of '_' collapsed, with "key_" before a leading digit. job is
// service.namespace/service.name (or service.name), instance is
// service.instance.id; the other resource attributes go to a target_info
// series. Delta temporality and exponential histograms are not stored
// (the first is a bad item, the second counted as not stored).
// A data point flagged "no recorded value" is stored as a stale marker.

type otlpScratch struct {
	name   []byte // the translated metric name
	res    []byte // resource labels as keyed pairs: job, instance
	info   []byte // target_info's other resource attributes as keyed pairs
	infoT  int64  // newest data point time of the resource
	tokens [][]byte
	nbuf   []byte    // a sanitised attribute name, copied into the key at once
	svc    [3][]byte // service.name, service.namespace, service.instance.id of the resource
}

const (
	otlpGauge = iota
	otlpCounter
	otlpHistogram
	otlpSummary
)

func (s *Server) handleOTLP(ctx *fasthttp.RequestCtx) {
	media, _, _ := bytes.Cut(ctx.Request.Header.ContentType(), []byte{';'})
	media = bytes.TrimSpace(media)
	isJSON := bytes.EqualFold(media, []byte("application/json"))
	if !isJSON && !bytes.EqualFold(media, []byte("application/x-protobuf")) {
		s.requestError(ctx, fmt.Errorf("%w: Content-Type %q (OTLP is application/x-protobuf or application/json)", ErrUnsupportedMediaType, truncate(media, 60)), stylePlain)
		return
	}
	actx, cancel := s.appendContext()
	defer cancel()
	ing := s.getIngester(actx, s.pmOTLP)
	defer s.putIngester(ing)
	body, err := ing.body.decode(s, ctx.PostBody(), ctx.Request.Header.Peek("Content-Encoding"))
	if err != nil {
		s.requestError(ctx, err, stylePlain)
		return
	}
	if isJSON {
		if body, err = otlpJSONToProto(body); err != nil {
			s.requestError(ctx, err, stylePlain)
			return
		}
	}
	if err := s.decodeOTLP(ing, body); err != nil {
		s.requestError(ctx, err, stylePlain)
		return
	}
	ing.flush()
	s.finishOTLP(ctx, ing)
}

func (s *Server) finishOTLP(ctx *fasthttp.RequestCtx, ing *ingester) {
	r := &ing.res
	rejected := 0
	for _, n := range r.rejected {
		rejected += n
	}
	if r.fatal == nil && r.parseErrs == 0 && rejected == 0 {
		ing.pm.samples.Add(float64(r.accepted))
		if r.histograms > 0 {
			ing.pm.histograms.Add(float64(r.histograms))
		}
		// An empty ExportMetricsServiceResponse, as OTLP/HTTP wants.
		ctx.SetContentType("application/x-protobuf")
		ctx.SetStatusCode(fasthttp.StatusOK)
		return
	}
	s.finish(ctx, ing, stylePlain, "data point")
}

func (s *Server) decodeOTLP(ing *ingester, b []byte) error {
	if _, err := topLevel(b, 1); err != nil {
		return err
	}
	item := 0
	for len(b) > 0 {
		f, fl := next(b)
		b = b[fl:]
		if f.num != 1 || f.typ != protowire.BytesType {
			continue
		}
		if !s.otlpResource(ing, f.b, &item) {
			return nil
		}
	}
	return nil
}

// otlpResource decodes one ResourceMetrics; false stops the request.
func (s *Server) otlpResource(ing *ingester, rm []byte, item *int) bool {
	o := &ing.otl
	o.res, o.info, o.infoT = o.res[:0], o.info[:0], math.MinInt64
	svcName, svcNS, svcID := o.svc[0][:0], o.svc[1][:0], o.svc[2][:0]
	for p := rm; len(p) > 0; {
		f, n := next(p)
		if n < 0 {
			ing.parseError(*item+1, 0, "malformed protobuf in resource_metrics")
			return true
		}
		p = p[n:]
		if f.num != 1 {
			continue
		}
		for q := f.b; len(q) > 0; {
			g, m := next(q)
			if m < 0 {
				ing.parseError(*item+1, 0, "malformed protobuf in resource")
				return true
			}
			q = q[m:]
			if g.num != 1 {
				continue
			}
			k, v, buf, ok := otlpKeyValue(g.b, ing.lbuf[:0])
			ing.lbuf = buf
			if !ok {
				continue
			}
			// Once per resource: the service values are copied.
			switch string(k) {
			case "service.name":
				svcName = append(svcName[:0], v...)
			case "service.namespace":
				svcNS = append(svcNS[:0], v...)
			case "service.instance.id":
				svcID = append(svcID[:0], v...)
			default:
				o.nbuf = sanitizeLabel(o.nbuf[:0], k)
				o.info = appendPair(o.info, o.nbuf, v)
			}
		}
	}
	o.svc = [3][]byte{svcName, svcNS, svcID}
	if len(svcName) > 0 {
		job := svcName
		if len(svcNS) > 0 {
			job = append(append(svcNS, '/'), svcName...)
			o.svc[1] = job
		}
		o.res = appendPairString(o.res, "job", job)
	}
	if len(svcID) > 0 {
		o.res = appendPairString(o.res, "instance", svcID)
	}
	for p := rm; len(p) > 0; {
		f, n := next(p)
		p = p[n:]
		if f.num != 2 || f.typ != protowire.BytesType {
			continue
		}
		for q := f.b; len(q) > 0; {
			g, m := next(q)
			if m < 0 {
				ing.parseError(*item+1, 0, "malformed protobuf in scope_metrics")
				break
			}
			q = q[m:]
			if g.num == 2 && g.typ == protowire.BytesType {
				if !s.otlpMetric(ing, g.b, item) {
					return false
				}
			}
		}
	}
	if len(o.info) > 0 && len(o.res) > 0 && o.infoT != math.MinInt64 {
		start := ing.keyStart(keyOTLP)
		ing.keys = appendPairString(ing.keys, "__name__", []byte("target_info"))
		ing.keys = append(ing.keys, o.res...)
		ing.keys = append(ing.keys, o.info...)
		*item++
		s.otlpAdd(ing, start, o.infoT, 1, *item)
	}
	return !ing.full() || ing.flush()
}

// otlpKeyValue decodes a KeyValue; the value is rendered as text appended
// to buf (string as is, int decimal, double %g, bool true/false), which is
// returned grown.
func otlpKeyValue(kv, buf []byte) (k, v, out []byte, ok bool) {
	var val []byte
	for len(kv) > 0 {
		f, n := next(kv)
		if n < 0 {
			return nil, nil, buf, false
		}
		kv = kv[n:]
		switch f.num {
		case 1:
			k = f.b
		case 2:
			val = f.b
		}
	}
	o := len(buf)
	for len(val) > 0 {
		f, n := next(val)
		if n < 0 {
			return nil, nil, buf, false
		}
		val = val[n:]
		switch f.num {
		case 1:
			buf = append(buf, f.b...)
		case 2:
			buf = strconv.AppendBool(buf, f.u != 0)
		case 3:
			buf = strconv.AppendInt(buf, int64(f.u), 10)
		case 4:
			buf = strconv.AppendFloat(buf, math.Float64frombits(f.u), 'g', -1, 64)
		default:
			buf = append(buf, f.b...) // arrays, kvlists, bytes: raw
		}
	}
	return k, buf[o:], buf, len(k) > 0
}

// otlpMetric decodes one Metric; false stops the request.
func (s *Server) otlpMetric(ing *ingester, m []byte, item *int) bool {
	var name, desc, unit, data []byte
	kind := -1
	var temporality uint64
	monotonic := false
	for p := m; len(p) > 0; {
		f, n := next(p)
		if n < 0 {
			*item++
			ing.parseError(*item, 0, "malformed protobuf in metric")
			return true
		}
		p = p[n:]
		switch f.num {
		case 1:
			name = f.b
		case 2:
			desc = f.b
		case 3:
			unit = f.b
		case 5:
			kind, data = otlpGauge, f.b
		case 7:
			kind, data = otlpCounter, f.b
		case 9:
			kind, data = otlpHistogram, f.b
		case 10:
			kind, data = -2, f.b
		case 11:
			kind, data = otlpSummary, f.b
		}
	}
	if kind == -2 {
		for q := data; len(q) > 0; {
			f, n := next(q)
			if n < 0 {
				break
			}
			q = q[n:]
			if f.num == 1 {
				ing.res.histograms++
			}
		}
		return true
	}
	if kind < 0 || len(name) == 0 {
		return true
	}
	for q := data; len(q) > 0; {
		f, n := next(q)
		if n < 0 {
			break
		}
		q = q[n:]
		switch f.num {
		case 2:
			temporality = f.u
		case 3:
			monotonic = f.u != 0
		}
	}
	if kind == otlpCounter && !monotonic {
		kind = otlpGauge // a non-monotonic sum is a gauge in Prometheus
	}
	o := &ing.otl
	o.name = otlpMetricName(o.name[:0], name, unit, kind, &o.tokens)
	if len(o.name) == 0 {
		*item++
		ing.parseErrorf(*item, 0, "metric %q: name translates to nothing", truncate(name, 64))
		return true
	}
	typ := [...]string{"gauge", "counter", "histogram", "summary"}[kind]
	s.opts.Metadata.set(o.name, typ, unit, desc)
	if (kind == otlpCounter || kind == otlpHistogram) && temporality == 1 { // AGGREGATION_TEMPORALITY_DELTA
		*item++
		ing.parseErrorf(*item, 0, "metric %q: delta temporality is not supported (send cumulative)", truncate(name, 64))
		return true
	}
	for q := data; len(q) > 0; {
		f, n := next(q)
		if n < 0 {
			*item++
			ing.parseError(*item, 0, "malformed protobuf in data points")
			return true
		}
		q = q[n:]
		if f.num != 1 || f.typ != protowire.BytesType {
			continue
		}
		*item++
		switch kind {
		case otlpGauge, otlpCounter:
			s.otlpNumber(ing, f.b, *item)
		case otlpHistogram:
			s.otlpHistogram(ing, f.b, *item)
		case otlpSummary:
			s.otlpSummary(ing, f.b, *item)
		}
		if ing.full() && !ing.flush() {
			return false
		}
	}
	return true
}

// otlpAttrs appends a data point's attributes (field attrField) to the key
// as sanitised keyed pairs.
func (ing *ingester) otlpAttrs(dp []byte, attrField protowire.Number) bool {
	for p := dp; len(p) > 0; {
		f, n := next(p)
		if n < 0 {
			return false
		}
		p = p[n:]
		if f.num != attrField || f.typ != protowire.BytesType {
			continue
		}
		k, v, buf, ok := otlpKeyValue(f.b, ing.lbuf[:0])
		ing.lbuf = buf
		if !ok {
			continue
		}
		ing.otl.nbuf = sanitizeLabel(ing.otl.nbuf[:0], k)
		ing.keys = appendPair(ing.keys, ing.otl.nbuf, v)
	}
	return true
}

// otlpSeries starts a series key: name+suffix, resource labels, extra
// pair, attributes.
func (ing *ingester) otlpSeries(dp []byte, attrField protowire.Number, suffix string, extraName string, extraValue []byte) (int, bool) {
	o := &ing.otl
	start := ing.keyStart(keyOTLP)
	ing.keys = protowire.AppendVarint(ing.keys, uint64(len("__name__")))
	ing.keys = append(ing.keys, "__name__"...)
	ing.keys = protowire.AppendVarint(ing.keys, uint64(len(o.name)+len(suffix)))
	ing.keys = append(append(ing.keys, o.name...), suffix...)
	ing.keys = append(ing.keys, o.res...)
	if extraName != "" {
		ing.keys = appendPairString(ing.keys, extraName, extraValue)
	}
	if !ing.otlpAttrs(dp, attrField) {
		ing.keys = ing.keys[:start]
		return 0, false
	}
	return start, true
}

func (s *Server) otlpAdd(ing *ingester, start int, t int64, v float64, item int) {
	idx, hit := ing.series(start)
	if !hit {
		if msg := ing.labelsFromKey(idx, ing.keys[start+1:]); msg != "" {
			ing.dropSeries(idx, start)
			ing.parseError(item, 0, msg)
			return
		}
	}
	ing.addSample(idx, t, v, item)
}

// staleNaN is Prometheus's stale marker.
var staleNaN = math.Float64frombits(0x7ff0000000000002)

func (s *Server) otlpNumber(ing *ingester, dp []byte, item int) {
	var t int64
	var v float64
	var flags uint64
	for p := dp; len(p) > 0; {
		f, n := next(p)
		if n < 0 {
			ing.parseError(item, 0, "malformed protobuf in data point")
			return
		}
		p = p[n:]
		switch f.num {
		case 3:
			t = int64(f.u / 1e6)
		case 4:
			v = math.Float64frombits(f.u)
		case 6:
			v = float64(int64(f.u))
		case 8:
			flags = f.u
		}
	}
	if flags&1 != 0 {
		v = staleNaN
	}
	s.otlpNote(ing, t)
	start, ok := ing.otlpSeries(dp, 7, "", "", nil)
	if !ok {
		ing.parseError(item, 0, "malformed protobuf in attributes")
		return
	}
	s.otlpAdd(ing, start, t, v, item)
}

func (s *Server) otlpNote(ing *ingester, t int64) {
	if t > ing.otl.infoT {
		ing.otl.infoT = t
	}
}

func (s *Server) otlpHistogram(ing *ingester, dp []byte, item int) {
	var t int64
	var count uint64
	var sum float64
	hasSum := false
	var counts, bounds []byte
	var flags uint64
	for p := dp; len(p) > 0; {
		f, n := next(p)
		if n < 0 {
			ing.parseError(item, 0, "malformed protobuf in histogram data point")
			return
		}
		p = p[n:]
		switch f.num {
		case 3:
			t = int64(f.u / 1e6)
		case 4:
			count = f.u
		case 5:
			sum, hasSum = math.Float64frombits(f.u), true
		case 6:
			counts = f.b
		case 7:
			bounds = f.b
		case 10:
			flags = f.u
		}
	}
	if len(counts)%8 != 0 || len(bounds)%8 != 0 || (len(counts) > 0 && len(counts)/8 != len(bounds)/8+1) {
		ing.parseError(item, 0, "histogram: bucket_counts must be packed and one longer than explicit_bounds")
		return
	}
	stale := flags&1 != 0
	val := func(v float64) float64 {
		if stale {
			return staleNaN
		}
		return v
	}
	s.otlpNote(ing, t)
	var cum uint64
	var le [32]byte
	for i := 0; i+8 <= len(bounds); i += 8 {
		cum += leUint64(counts[i:])
		b := strconv.AppendFloat(le[:0], math.Float64frombits(leUint64(bounds[i:])), 'g', -1, 64)
		start, ok := ing.otlpSeries(dp, 9, "_bucket", "le", b)
		if !ok {
			ing.parseError(item, 0, "malformed protobuf in attributes")
			return
		}
		s.otlpAdd(ing, start, t, val(float64(cum)), item)
	}
	if start, ok := ing.otlpSeries(dp, 9, "_bucket", "le", []byte("+Inf")); ok {
		s.otlpAdd(ing, start, t, val(float64(count)), item)
	}
	if hasSum {
		if start, ok := ing.otlpSeries(dp, 9, "_sum", "", nil); ok {
			s.otlpAdd(ing, start, t, val(sum), item)
		}
	}
	if start, ok := ing.otlpSeries(dp, 9, "_count", "", nil); ok {
		s.otlpAdd(ing, start, t, val(float64(count)), item)
	}
}

func leUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func (s *Server) otlpSummary(ing *ingester, dp []byte, item int) {
	var t int64
	var count uint64
	var sum float64
	var flags uint64
	for p := dp; len(p) > 0; {
		f, n := next(p)
		if n < 0 {
			ing.parseError(item, 0, "malformed protobuf in summary data point")
			return
		}
		p = p[n:]
		switch f.num {
		case 3:
			t = int64(f.u / 1e6)
		case 4:
			count = f.u
		case 5:
			sum = math.Float64frombits(f.u)
		case 8:
			flags = f.u
		}
	}
	stale := flags&1 != 0
	val := func(v float64) float64 {
		if stale {
			return staleNaN
		}
		return v
	}
	s.otlpNote(ing, t)
	var qb [32]byte
	for p := dp; len(p) > 0; {
		f, n := next(p)
		p = p[n:]
		if f.num != 6 || f.typ != protowire.BytesType {
			continue
		}
		var q, v float64
		for r := f.b; len(r) > 0; {
			g, m := next(r)
			if m < 0 {
				ing.parseError(item, 0, "malformed protobuf in quantile value")
				return
			}
			r = r[m:]
			switch g.num {
			case 1:
				q = math.Float64frombits(g.u)
			case 2:
				v = math.Float64frombits(g.u)
			}
		}
		if start, ok := ing.otlpSeries(dp, 7, "", "quantile", strconv.AppendFloat(qb[:0], q, 'g', -1, 64)); ok {
			s.otlpAdd(ing, start, t, val(v), item)
		}
	}
	if start, ok := ing.otlpSeries(dp, 7, "_sum", "", nil); ok {
		s.otlpAdd(ing, start, t, val(sum), item)
	}
	if start, ok := ing.otlpSeries(dp, 7, "_count", "", nil); ok {
		s.otlpAdd(ing, start, t, val(float64(count)), item)
	}
}

// sanitizeLabel appends the Prometheus label name of an attribute key:
// bytes outside [a-zA-Z0-9_] become '_', runs of '_' collapse (a leading
// "__" is kept), a leading digit gets "key_".
func sanitizeLabel(dst, k []byte) []byte {
	n0 := len(dst)
	if len(k) > 0 && k[0] >= '0' && k[0] <= '9' {
		dst = append(dst, "key_"...)
	}
	for i, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			c = '_'
		}
		if c == '_' && len(dst) > n0 && dst[len(dst)-1] == '_' && !(i == 1 && k[0] == '_' && k[1] == '_') {
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// OTLP unit words (Prometheus's translation tables).
var otlpUnits = map[string]string{
	"d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds",
	"By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes",
	"KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
	"m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
	"Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}

var otlpPerUnits = map[string]string{"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

func isOTLPNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':'
}

// otlpMetricName appends the translated metric name.
func otlpMetricName(dst, name, unit []byte, kind int, tokens *[][]byte) []byte {
	toks := (*tokens)[:0]
	for i := 0; i < len(name); {
		for i < len(name) && !isOTLPNameChar(name[i]) {
			i++
		}
		j := i
		for j < len(name) && isOTLPNameChar(name[j]) {
			j++
		}
		if j > i {
			toks = append(toks, name[i:j])
		}
		i = j
	}
	has := func(w string) bool {
		for _, t := range toks {
			if string(t) == w {
				return true
			}
		}
		return false
	}
	main, per, _ := bytes.Cut(unit, []byte{'/'})
	mainW, perW := otlpUnitWord(main, otlpUnits), ""
	if len(per) > 0 {
		if w := otlpUnitWord(per, otlpPerUnits); w != "" {
			perW = "per_" + w
		}
	}
	out := func(t []byte) {
		if len(dst) > 0 {
			dst = append(dst, '_')
		}
		dst = append(dst, t...)
	}
	for _, t := range toks {
		if kind == otlpCounter && string(t) == "total" || kind == otlpGauge && string(unit) == "1" && string(t) == "ratio" {
			continue
		}
		out(t)
	}
	if mainW != "" && !has(mainW) {
		out([]byte(mainW))
	}
	if perW != "" && !has(perW[4:]) {
		out([]byte(perW))
	}
	if kind == otlpCounter {
		out([]byte("total"))
	}
	if kind == otlpGauge && string(unit) == "1" {
		out([]byte("ratio"))
	}
	if len(dst) > 0 && dst[0] >= '0' && dst[0] <= '9' {
		dst = append([]byte{'_'}, dst...)
	}
	*tokens = toks[:0]
	return dst
}

// otlpUnitWord maps a unit to its word: the table's, or the unit itself
// with {annotations} removed and invalid characters cleaned.
func otlpUnitWord(u []byte, table map[string]string) string {
	if len(u) == 0 {
		return ""
	}
	if w, ok := table[string(u)]; ok {
		return w
	}
	if bytes.ContainsAny(u, "{}") {
		return ""
	}
	var b []byte
	for _, c := range u {
		if isOTLPNameChar(c) && c != ':' {
			b = append(b, c)
		} else if len(b) > 0 && b[len(b)-1] != '_' {
			b = append(b, '_')
		}
	}
	return string(bytes.Trim(b, "_"))
}
