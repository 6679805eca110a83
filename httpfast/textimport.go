package httpfast

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
	"google.golang.org/protobuf/encoding/protowire"
)

// Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text on POST
// /api/v1/import/prometheus:
//
//	# HELP name text        → metadata help
//	# TYPE name type        → metadata type
//	# UNIT name unit        → metadata unit (OpenMetrics)
//	name{label="value",...} value [timestamp]
//
// Label values escape '\\', '\"' and '\n'. Values are floats, NaN, +Inf,
// -Inf. Timestamps are optional (default: receive time); they are
// milliseconds in the Prometheus format and seconds (possibly fractional)
// with Content-Type application/openmetrics-text. OpenMetrics exemplars
// (" # {...} v [t]") are counted and skipped; "# EOF" ends the body.
// extra_label=name=value query parameters add labels to every series.

type textScratch struct {
	extra [][2][]byte // extra_label name/value pairs of the request
}

func (s *Server) handleTextImport(ctx *fasthttp.RequestCtx) {
	om := bytes.HasPrefix(ctx.Request.Header.ContentType(), []byte("application/openmetrics-text"))
	actx, cancel := s.appendContext()
	defer cancel()
	ing := s.getIngester(actx, s.pmText)
	defer s.putIngester(ing)
	ing.tx.extra = ing.tx.extra[:0]
	var bad error
	for k, v := range ctx.QueryArgs().All() {
		if string(k) != "extra_label" {
			continue
		}
		name, value, ok := bytes.Cut(v, []byte{'='})
		if !ok || !validLabelName(name) {
			bad = fmt.Errorf("%w: extra_label %q (want name=value with a valid label name)", ErrBadParam, truncate(v, 64))
			break
		}
		ing.tx.extra = append(ing.tx.extra, [2][]byte{name, value})
	}
	if bad != nil {
		s.requestError(ctx, bad, stylePlain)
		return
	}
	body, err := ing.body.decode(s, ctx.PostBody(), ctx.Request.Header.Peek("Content-Encoding"))
	if err != nil {
		s.requestError(ctx, err, stylePlain)
		return
	}
	if n := bytes.Count(body, []byte{'\n'}) + 1; n > s.lim.MaxLinesPerRequest {
		s.requestError(ctx, fmt.Errorf("%w: %d lines, limit %d per request (--ingest.max-lines-per-request); nothing stored", ErrTooLarge, n, s.lim.MaxLinesPerRequest), stylePlain)
		return
	}
	s.parseText(ing, body, om)
	ing.flush()
	clear(ing.tx.extra)
	s.finish(ctx, ing, stylePlain, "line")
}

func validLabelName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (s *Server) parseText(ing *ingester, body []byte, om bool) {
	lineNo := 0
	for len(body) > 0 {
		lineNo++
		var line []byte
		if nl := bytes.IndexByte(body, '\n'); nl >= 0 {
			line, body = body[:nl], body[nl+1:]
		} else {
			line, body = body, nil
		}
		line = bytes.TrimRight(line, " \t\r")
		lead := 0
		for lead < len(line) && (line[lead] == ' ' || line[lead] == '\t') {
			lead++
		}
		line = line[lead:]
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			if om && string(line) == "# EOF" {
				return
			}
			s.textComment(line)
			continue
		}
		if col, msg := s.textSample(ing, line, lineNo, om); msg != "" {
			if col > 0 {
				col += lead
			}
			ing.parseError(lineNo, col, msg)
		}
		if ing.full() && !ing.flush() {
			return
		}
	}
}

// textComment records # HELP, # TYPE and # UNIT lines as metadata.
func (s *Server) textComment(line []byte) {
	rest := bytes.TrimLeft(line[1:], " \t")
	kw, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return
	}
	rest = bytes.TrimLeft(rest, " \t")
	name, text, _ := bytes.Cut(rest, []byte{' '})
	if !utf8.Valid(name) || !utf8.Valid(text) {
		return
	}
	switch string(kw) {
	case "HELP":
		s.opts.Metadata.set(name, "", nil, text)
	case "TYPE":
		switch string(text) {
		case "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown", "untyped":
			t := string(text)
			if t == "untyped" {
				t = "unknown"
			}
			s.opts.Metadata.set(name, t, nil, nil)
		}
	case "UNIT":
		s.opts.Metadata.set(name, "", text, nil)
	}
}

// textSample parses one sample line; it returns a column and problem, or
// "" when the sample was added.
func (s *Server) textSample(ing *ingester, line []byte, lineNo int, om bool) (int, string) {
	n := len(line)
	i := 0
	for i < n && isMetricChar(line[i], i == 0) {
		i++
	}
	if i == 0 {
		return 1, fmt.Sprintf("invalid metric name at %q", truncate(line, 32))
	}
	name := line[:i]
	labelsEnd := i
	if i < n && line[i] == '{' {
		j, col, msg := scanTextLabels(line, i+1)
		if msg != "" {
			return col, msg
		}
		i, labelsEnd = j, j
	}
	seriesRaw := line[:labelsEnd]
	if i >= n || line[i] != ' ' && line[i] != '\t' {
		return i + 1, "want a space and a value after the series"
	}
	for i < n && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	vs := i
	for i < n && line[i] != ' ' && line[i] != '\t' {
		i++
	}
	v, ok := parseTextValue(line[vs:i])
	if !ok {
		return vs + 1, fmt.Sprintf("invalid value %q", truncate(line[vs:i], 32))
	}
	for i < n && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	t := ing.now
	if i < n && line[i] != '#' {
		ts := i
		for i < n && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		var tok = line[ts:i]
		if om {
			f, err := strconv.ParseFloat(ustr(tok), 64)
			if err != nil || math.IsNaN(f) || math.Abs(f) > math.MaxInt64/1e3/2 {
				return ts + 1, fmt.Sprintf("invalid timestamp %q (OpenMetrics: seconds)", truncate(tok, 32))
			}
			t = int64(math.Round(f * 1e3))
		} else {
			var err error
			if t, err = strconv.ParseInt(ustr(tok), 10, 64); err != nil {
				return ts + 1, fmt.Sprintf("invalid timestamp %q (milliseconds)", truncate(tok, 32))
			}
		}
		for i < n && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
	}
	if i < n {
		if line[i] != '#' {
			return i + 1, fmt.Sprintf("unexpected text %q after the sample", truncate(line[i:], 32))
		}
		ing.res.exemplars++
	}
	// The key: the series as written (length, bytes), then the extra
	// labels. Length-prefixed: unprefixed after the extra pairs, a long
	// metric name could spell the pairs of another request's extra_label
	// and its series, and two label sets would share a key.
	start := ing.keyStart(keyText)
	ing.keys = protowire.AppendVarint(ing.keys, uint64(len(seriesRaw)))
	ing.keys = append(ing.keys, seriesRaw...)
	for _, e := range ing.tx.extra {
		ing.keys = appendPair(ing.keys, e[0], e[1])
	}
	idx, hit := ing.series(start)
	if !hit {
		if msg := s.textLabels(ing, name, seriesRaw[len(name):]); msg != "" {
			ing.dropSeries(idx, start)
			return 0, msg
		}
	}
	ing.addSample(idx, t, v, lineNo)
	return 0, ""
}

func isMetricChar(c byte, first bool) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

// scanTextLabels scans name="value" pairs from i (after '{') to the
// closing '}' and returns the index after it.
func scanTextLabels(line []byte, i int) (int, int, string) {
	n := len(line)
	for {
		for i < n && (line[i] == ' ' || line[i] == ',') {
			i++
		}
		if i < n && line[i] == '}' {
			return i + 1, 0, ""
		}
		ks := i
		for i < n && isMetricChar(line[i], i == ks) && line[i] != ':' {
			i++
		}
		if i == ks {
			return 0, i + 1, "invalid label name"
		}
		if i >= n || line[i] != '=' {
			return 0, i + 1, "want '=' after the label name"
		}
		i++
		if i >= n || line[i] != '"' {
			return 0, i + 1, "want a quoted label value"
		}
		i++
		for i < n && line[i] != '"' {
			if line[i] == '\\' {
				if i+1 >= n {
					break
				}
				switch line[i+1] {
				case '\\', '"', 'n':
				default:
					return 0, i + 1, fmt.Sprintf("invalid escape \\%c in label value", line[i+1])
				}
				i++
			}
			i++
		}
		if i >= n {
			return 0, ks + 1, "unterminated label value"
		}
		i++
		if i < n && line[i] != ',' && line[i] != '}' && line[i] != ' ' {
			return 0, i + 1, "want ',' or '}' after a label value"
		}
	}
}

// textLabels builds the labels of the batch's last series from the metric
// name, the raw {...} part and the request's extra labels.
func (s *Server) textLabels(ing *ingester, name, raw []byte) string {
	sb := &ing.sb
	sb.Reset()
	sb.Add("__name__", ustr(name))
	b := ing.lbuf[:0]
	if len(raw) > 0 {
		raw = raw[1 : len(raw)-1] // strip { }
	}
	for len(raw) > 0 {
		for len(raw) > 0 && (raw[0] == ' ' || raw[0] == ',') {
			raw = raw[1:]
		}
		if len(raw) == 0 {
			break
		}
		eq := bytes.IndexByte(raw, '=')
		k := raw[:eq]
		raw = raw[eq+2:] // =" checked by scanTextLabels
		v0 := len(b)
		j := 0
		for raw[j] != '"' {
			c := raw[j]
			if c == '\\' {
				j++
				if raw[j] == 'n' {
					c = '\n'
				} else {
					c = raw[j]
				}
			}
			b = append(b, c)
			j++
		}
		raw = raw[j+1:]
		if !utf8.Valid(b[v0:]) {
			ing.lbuf = b
			return fmt.Sprintf("label %q: value is not valid UTF-8", k)
		}
		sb.Add(ustr(k), ustr(b[v0:]))
	}
	for _, e := range ing.tx.extra {
		if !utf8.Valid(e[1]) {
			ing.lbuf = b
			return "extra_label value is not valid UTF-8"
		}
		sb.Add(ustr(e[0]), ustr(e[1]))
	}
	ing.setLabels(uint32(len(ing.b.Series)-1), ing.buildLabels())
	ing.lbuf = b
	return ""
}

// parseTextValue parses a sample value: a Go float, NaN, +Inf, -Inf.
func parseTextValue(b []byte) (float64, bool) {
	switch string(b) {
	case "+Inf", "Inf", "+inf", "inf":
		return math.Inf(1), true
	case "-Inf", "-inf":
		return math.Inf(-1), true
	case "NaN", "nan":
		return math.NaN(), true
	}
	v, err := strconv.ParseFloat(ustr(b), 64)
	return v, err == nil
}
