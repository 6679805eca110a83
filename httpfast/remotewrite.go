package httpfast

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
	"google.golang.org/protobuf/encoding/protowire"
)

// Prometheus remote write 1.0 (prometheus.WriteRequest) and 2.0
// (io.prometheus.write.v2.Request) on POST /api/v1/write, snappy block
// format, decoded by hand with protowire: no generated code, no
// reflection, nothing allocated per series or sample once the series are
// in the route cache. Field numbers (docs/API.md cites them):
//
//	1.0 WriteRequest  1 timeseries (TimeSeries), 3 metadata (MetricMetadata)
//	    TimeSeries    1 labels (Label), 2 samples (Sample), 3 exemplars, 4 histograms
//	    Label         1 name, 2 value
//	    Sample        1 value (double), 2 timestamp (int64 ms)
//	    MetricMetadata 1 type (enum), 2 metric_family_name, 4 help, 5 unit
//	2.0 Request       4 symbols (string), 5 timeseries (TimeSeries)
//	    TimeSeries    1 labels_refs (packed uint32), 2 samples, 3 histograms,
//	                  4 exemplars, 5 metadata (Metadata)
//	    Sample        1 value (double), 2 timestamp (int64 ms), 3 start_timestamp
//	    Metadata      1 type (enum), 3 help_ref, 4 unit_ref
//
// Exemplars and native histograms are accepted, counted
// (tsdb_ingest_not_stored_total) and not stored; the answer says so in
// X-Silverback-Not-Stored.

// Content types of the two versions (the proto parameter).
const (
	protoV1 = "prometheus.WriteRequest"
	protoV2 = "io.prometheus.write.v2.Request"
)

// rwScratch is the remote-write decoder's reused state.
type rwScratch struct {
	syms [][]byte // 2.0 symbol table of the current request (aliases the body)
	refs []uint32 // label refs of the current 2.0 series
}

// handleWrite serves POST /api/v1/write: remote write by Content-Type
// (application/x-protobuf, with proto= selecting 1.0 or 2.0) or the JSON
// format (application/json).
func (s *Server) handleWrite(ctx *fasthttp.RequestCtx) {
	ct := ctx.Request.Header.ContentType()
	media, params, _ := bytes.Cut(ct, []byte{';'})
	media = bytes.TrimSpace(media)
	switch {
	case bytes.EqualFold(media, []byte("application/json")):
		s.handleJSON(ctx)
		return
	case len(media) == 0 || bytes.EqualFold(media, []byte("application/x-protobuf")):
	default:
		s.requestError(ctx, fmt.Errorf("%w: Content-Type %q (want application/x-protobuf for remote write or application/json)", ErrUnsupportedMediaType, truncate(ct, 100)), styleRemote)
		return
	}
	v2 := false
	switch proto := mediaParam(params, "proto"); proto {
	case "", protoV1:
	case protoV2:
		v2 = true
	default:
		s.requestError(ctx, fmt.Errorf("%w: remote write message %q (this server accepts proto=%s and proto=%s)", ErrUnsupportedMediaType, proto, protoV1, protoV2), styleRemote)
		return
	}
	if v2 {
		// Set on every answer, so a sender can always tell what landed.
		defer func() {
			h := &ctx.Response.Header
			if h.Peek("X-Prometheus-Remote-Write-Samples-Written") == nil {
				h.Set("X-Prometheus-Remote-Write-Samples-Written", "0")
			}
			h.Set("X-Prometheus-Remote-Write-Histograms-Written", "0")
			h.Set("X-Prometheus-Remote-Write-Exemplars-Written", "0")
		}()
	}
	// snappy is the spec's only encoding; some senders omit the header.
	if enc := ctx.Request.Header.Peek("Content-Encoding"); len(enc) != 0 && !bytes.EqualFold(enc, []byte("snappy")) {
		s.requestError(ctx, fmt.Errorf("%w: Content-Encoding %q (remote write bodies are snappy block format)", ErrUnsupportedEncoding, truncate(enc, 40)), styleRemote)
		return
	}
	actx, cancel := s.appendContext()
	defer cancel()
	pm := s.pmRemote
	if v2 {
		pm = s.pmRemoteV2
	}
	ing := s.getIngester(actx, pm)
	defer s.putIngester(ing)
	body, err := ing.body.decode(s, ctx.PostBody(), []byte("snappy"))
	if err != nil {
		s.requestError(ctx, err, styleRemote)
		return
	}
	if v2 {
		err = s.decodeRemoteV2(ing, body)
	} else {
		err = s.decodeRemoteV1(ing, body)
	}
	if err != nil {
		s.requestError(ctx, err, styleRemote)
		return
	}
	ing.flush()
	if v2 {
		ctx.Response.Header.Set("X-Prometheus-Remote-Write-Samples-Written", strconv.Itoa(ing.res.accepted))
	}
	if r := &ing.res; r.exemplars > 0 || r.histograms > 0 {
		ctx.Response.Header.Set("X-Silverback-Not-Stored", fmt.Sprintf("%d exemplars, %d native histograms (not supported yet)", r.exemplars, r.histograms))
	}
	s.finish(ctx, ing, styleRemote, "timeseries")
}

// mediaParam returns the value of a media-type parameter (unquoted).
func mediaParam(params []byte, name string) string {
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte{';'})
		k, v, ok := bytes.Cut(bytes.TrimSpace(p), []byte{'='})
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			v = bytes.TrimSpace(v)
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return string(v)
		}
	}
	return ""
}

var errProto = errors.New("malformed protobuf")

// topLevel walks the fields of a message and counts those numbered count;
// it fails on broken framing, so nothing is stored from a body whose
// framing is broken.
func topLevel(b []byte, count protowire.Number) (int, error) {
	n := 0
	off := 0
	for off < len(b) {
		num, typ, tl := protowire.ConsumeTag(b[off:])
		if tl < 0 {
			return 0, fmt.Errorf("%w: %w: bad field tag at byte %d: %w", ErrBadBody, errProto, off, protowire.ParseError(tl))
		}
		vl := protowire.ConsumeFieldValue(num, typ, b[off+tl:])
		if vl < 0 {
			return 0, fmt.Errorf("%w: %w: field %d at byte %d: %w", ErrBadBody, errProto, num, off, protowire.ParseError(vl))
		}
		if num == count {
			n++
		}
		off += tl + vl
	}
	return n, nil
}

// field is one decoded protobuf field: its number and wire type, its value
// as a varint/fixed number, or its bytes.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
}

// next decodes the field at b; n < 0 is a protowire error code.
func next(b []byte) (f field, n int) {
	num, typ, tl := protowire.ConsumeTag(b)
	if tl < 0 {
		return f, tl
	}
	f.num, f.typ = num, typ
	b = b[tl:]
	var vl int
	switch typ {
	case protowire.VarintType:
		f.u, vl = protowire.ConsumeVarint(b)
	case protowire.Fixed64Type:
		f.u, vl = protowire.ConsumeFixed64(b)
	case protowire.Fixed32Type:
		var v uint32
		v, vl = protowire.ConsumeFixed32(b)
		f.u = uint64(v)
	case protowire.BytesType:
		f.b, vl = protowire.ConsumeBytes(b)
	default:
		vl = protowire.ConsumeFieldValue(num, typ, b)
	}
	if vl < 0 {
		return f, vl
	}
	return f, tl + vl
}

func (s *Server) decodeRemoteV1(ing *ingester, b []byte) error {
	n, err := topLevel(b, 1)
	if err != nil {
		return err
	}
	if n > s.lim.MaxSeriesPerRequest {
		return fmt.Errorf("%w: %d timeseries, limit %d per request (--ingest.max-series-per-request); nothing stored", ErrTooLarge, n, s.lim.MaxSeriesPerRequest)
	}
	item := 0
	for len(b) > 0 {
		f, fl := next(b) // framing was checked by topLevel
		b = b[fl:]
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			item++
			s.rwSeriesV1(ing, f.b, item)
			if ing.full() && !ing.flush() {
				return nil
			}
		case f.num == 3 && f.typ == protowire.BytesType:
			s.rwMetadataV1(f.b)
		}
	}
	return nil
}

// rwSeriesV1 adds one TimeSeries. Its route-cache key is the bytes of
// its Label fields as sent, tags included, so it starts with 0x0a (field
// 1, length-delimited), a byte no other protocol's key starts with.
// Senders put the labels first and together; then the key is a slice of
// the body (nothing copied), else the fields are copied together into the
// key arena in the same form.
func (s *Server) rwSeriesV1(ing *ingester, ts []byte, item int) {
	labStart, labEnd, firstSample := -1, -1, -1
	together := true
	samples := 0
	for off := 0; off < len(ts); {
		var num protowire.Number
		var n int
		if c := ts[off]; (c == rwLabelTag || c == rwSampleTag) && off+1 < len(ts) && ts[off+1] < 0x80 && off+2+int(ts[off+1]) <= len(ts) {
			num, n = protowire.Number(c>>3), 2+int(ts[off+1]) // the usual short field
		} else {
			var f field
			if f, n = next(ts[off:]); n < 0 {
				ing.parseErrorf(item, 0, "malformed protobuf in timeseries: %v", protowire.ParseError(n))
				return
			}
			num = f.num
		}
		switch num {
		case 1:
			if labStart < 0 {
				labStart = off
			} else if labEnd != off {
				together = false
			}
			labEnd = off + n
		case 2:
			if firstSample < 0 {
				firstSample = off
			}
			samples++
		case 3:
			ing.res.exemplars++
		case 4:
			ing.res.histograms++
		}
		off += n
	}
	if samples == 0 {
		return
	}
	if labStart < 0 {
		ing.parseError(item, 0, "series without labels")
		return
	}
	var key []byte
	start := len(ing.keys)
	if together && ts[labStart] == rwLabelTag {
		key = ts[labStart:labEnd:labEnd]
	} else {
		for p := ts; len(p) > 0; {
			f, n := next(p)
			p = p[n:]
			if f.num == 1 {
				ing.keys = append(ing.keys, rwLabelTag)
				ing.keys = protowire.AppendVarint(ing.keys, uint64(len(f.b)))
				ing.keys = append(ing.keys, f.b...)
			}
		}
		key = ing.keys[start:len(ing.keys):len(ing.keys)]
	}
	idx, hit := ing.seriesKey(key)
	if !hit {
		if msg := s.rwLabelsV1(ing, ts); msg != "" {
			ing.dropSeries(idx, start)
			ing.parseError(item, 0, msg)
			return
		}
	}
	for p := ts[firstSample:]; len(p) > 0; {
		var sb []byte
		if len(p) >= 2 && p[0] == rwSampleTag && p[1] < 0x80 && int(p[1])+2 <= len(p) {
			sb, p = p[2:2+p[1]], p[2+p[1]:] // the usual short Sample
		} else {
			f, n := next(p)
			p = p[n:]
			if f.num != 2 || f.typ != protowire.BytesType {
				continue
			}
			sb = f.b
		}
		t, v, ok := decodeSample(sb)
		if !ok {
			ing.parseError(item, 0, "malformed protobuf in sample")
			continue
		}
		ing.addSample(idx, t, v, item)
	}
}

// Tags of the 1.0 TimeSeries fields labels (1) and samples (2), both
// length-delimited, in their one-byte form.
const (
	rwLabelTag  = 1<<3 | byte(protowire.BytesType)
	rwSampleTag = 2<<3 | byte(protowire.BytesType)
)

// decodeSample decodes a Sample (value 1 double, timestamp 2 int64).
func decodeSample(b []byte) (t int64, v float64, ok bool) {
	// The usual encoding: value, then timestamp, each once.
	if len(b) >= 11 && b[0] == 1<<3|byte(protowire.Fixed64Type) && b[9] == 2<<3|byte(protowire.VarintType) {
		if u, n := protowire.ConsumeVarint(b[10:]); n > 0 && 10+n == len(b) {
			return int64(u), math.Float64frombits(binary.LittleEndian.Uint64(b[1:9])), true
		}
	}
	for len(b) > 0 {
		f, n := next(b)
		if n < 0 {
			return 0, 0, false
		}
		b = b[n:]
		switch {
		case f.num == 1 && f.typ == protowire.Fixed64Type:
			v = math.Float64frombits(f.u)
		case f.num == 2 && f.typ == protowire.VarintType:
			t = int64(f.u)
		}
	}
	return t, v, true
}

// rwLabelsV1 builds the labels of a 1.0 TimeSeries and sets them on the
// batch's last series.
func (s *Server) rwLabelsV1(ing *ingester, ts []byte) string {
	sb := &ing.sb
	sb.Reset()
	nl := 0
	for p := ts; len(p) > 0; {
		f, n := next(p)
		p = p[n:]
		if f.num != 1 {
			continue
		}
		var name, value []byte
		for q := f.b; len(q) > 0; {
			g, m := next(q)
			if m < 0 {
				return "malformed protobuf in label"
			}
			q = q[m:]
			switch g.num {
			case 1:
				name = g.b
			case 2:
				value = g.b
			}
		}
		if !utf8.Valid(name) || !utf8.Valid(value) {
			return fmt.Sprintf("label %q: not valid UTF-8", truncate(name, 64))
		}
		sb.Add(ustr(name), ustr(value))
		nl++
	}
	if nl == 0 {
		return "series without labels"
	}
	ing.setLabels(uint32(len(ing.b.Series)-1), ing.buildLabels())
	return ""
}

func (s *Server) rwMetadataV1(b []byte) {
	var typ uint64
	var name, help, unit []byte
	for len(b) > 0 {
		f, n := next(b)
		if n < 0 {
			return
		}
		b = b[n:]
		switch f.num {
		case 1:
			typ = f.u
		case 2:
			name = f.b
		case 4:
			help = f.b
		case 5:
			unit = f.b
		}
	}
	if utf8.Valid(name) && utf8.Valid(help) && utf8.Valid(unit) {
		s.opts.Metadata.set(name, metricTypeName(typ), unit, help)
	}
}

func (s *Server) decodeRemoteV2(ing *ingester, b []byte) error {
	n, err := topLevel(b, 5)
	if err != nil {
		return err
	}
	if n > s.lim.MaxSeriesPerRequest {
		return fmt.Errorf("%w: %d timeseries, limit %d per request (--ingest.max-series-per-request); nothing stored", ErrTooLarge, n, s.lim.MaxSeriesPerRequest)
	}
	syms := ing.rw.syms[:0]
	for p := b; len(p) > 0; {
		f, fl := next(p)
		p = p[fl:]
		if f.num == 4 && f.typ == protowire.BytesType {
			syms = append(syms, f.b)
		}
	}
	ing.rw.syms = syms
	if len(syms) > 0 && len(syms[0]) != 0 {
		return fmt.Errorf("%w: symbols[0] must be the empty string", ErrBadBody)
	}
	item := 0
	for len(b) > 0 {
		f, fl := next(b)
		b = b[fl:]
		if f.num == 5 && f.typ == protowire.BytesType {
			item++
			s.rwSeriesV2(ing, f.b, item)
			if ing.full() && !ing.flush() {
				break
			}
		}
	}
	clear(ing.rw.syms) // drop references to the body
	return nil
}

// rwSeriesV2 adds one 2.0 TimeSeries. The route-cache key is the resolved
// label strings (refs differ between requests).
func (s *Server) rwSeriesV2(ing *ingester, ts []byte, item int) {
	syms := ing.rw.syms
	refs := ing.rw.refs[:0]
	samples := 0
	var meta []byte
	for p := ts; len(p) > 0; {
		f, n := next(p)
		if n < 0 {
			ing.parseErrorf(item, 0, "malformed protobuf in timeseries: %v", protowire.ParseError(n))
			return
		}
		p = p[n:]
		switch f.num {
		case 1:
			if f.typ == protowire.VarintType {
				refs = append(refs, uint32(f.u))
				continue
			}
			for q := f.b; len(q) > 0; {
				v, m := protowire.ConsumeVarint(q)
				if m < 0 {
					ing.rw.refs = refs
					ing.parseError(item, 0, "malformed packed labels_refs")
					return
				}
				refs = append(refs, uint32(v))
				q = q[m:]
			}
		case 2:
			samples++
		case 3:
			ing.res.histograms++
		case 4:
			ing.res.exemplars++
		case 5:
			meta = f.b
		}
	}
	ing.rw.refs = refs
	if len(refs) == 0 && samples > 0 {
		ing.parseError(item, 0, "series without labels")
		return
	}
	if len(refs)%2 != 0 {
		ing.parseErrorf(item, 0, "odd number of labels_refs (%d)", len(refs))
		return
	}
	var name []byte
	for i, r := range refs {
		if int(r) >= len(syms) {
			ing.parseErrorf(item, 0, "labels_refs[%d] = %d, the symbol table has %d symbols", i, r, len(syms))
			return
		}
		if i%2 == 0 && string(syms[r]) == "__name__" && int(refs[i+1]) < len(syms) {
			name = syms[refs[i+1]]
		}
	}
	if meta != nil {
		s.rwMetadataV2(meta, name, syms)
	}
	if samples == 0 {
		return
	}
	start := ing.keyStart(keyRemoteV2)
	for _, r := range refs {
		ing.keys = protowire.AppendVarint(ing.keys, uint64(len(syms[r])))
		ing.keys = append(ing.keys, syms[r]...)
	}
	idx, hit := ing.series(start)
	if !hit {
		sb := &ing.sb
		sb.Reset()
		for i := 0; i < len(refs); i += 2 {
			k, v := syms[refs[i]], syms[refs[i+1]]
			if !utf8.Valid(k) || !utf8.Valid(v) {
				ing.dropSeries(idx, start)
				ing.parseErrorf(item, 0, "label %q: not valid UTF-8", truncate(k, 64))
				return
			}
			sb.Add(ustr(k), ustr(v))
		}
		ing.setLabels(idx, ing.buildLabels())
	}
	for p := ts; len(p) > 0; {
		f, n := next(p)
		p = p[n:]
		if f.num != 2 || f.typ != protowire.BytesType {
			continue
		}
		t, v, ok := decodeSample(f.b)
		if !ok {
			ing.parseError(item, 0, "malformed protobuf in sample")
			continue
		}
		ing.addSample(idx, t, v, item)
	}
}

func (s *Server) rwMetadataV2(b, name []byte, syms [][]byte) {
	var typ, help, unit uint64
	for len(b) > 0 {
		f, n := next(b)
		if n < 0 {
			return
		}
		b = b[n:]
		switch f.num {
		case 1:
			typ = f.u
		case 3:
			help = f.u
		case 4:
			unit = f.u
		}
	}
	if typ == 0 && help == 0 && unit == 0 {
		return
	}
	if help >= uint64(len(syms)) || unit >= uint64(len(syms)) {
		return
	}
	if utf8.Valid(name) && utf8.Valid(syms[help]) && utf8.Valid(syms[unit]) {
		tn := ""
		if typ != 0 {
			tn = metricTypeName(typ)
		}
		s.opts.Metadata.set(name, tn, syms[unit], syms[help])
	}
}
