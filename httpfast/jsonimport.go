package httpfast

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// The JSON write format (POST /api/v1/write, Content-Type:
// application/json):
//
//	{"timeseries": [{"labels": [{"name": "__name__", "value": "up"}, ...],
//	                 "samples": [{"timestamp": 1700000000000, "value": 1}, ...]}, ...]}
//
// Timestamps are integer milliseconds; values are JSON numbers or strings
// holding a number, "NaN", "+Inf" or "-Inf". Unknown keys are skipped. The
// decoder is hand-written for this shape (encoding/json would allocate per
// label string); a syntax error stops the request at that byte, the
// series before it are stored, and the answer names series and offset.

func (s *Server) handleJSON(ctx *fasthttp.RequestCtx) {
	actx, cancel := s.appendContext()
	defer cancel()
	ing := s.getIngester(actx, s.pmJSON)
	defer s.putIngester(ing)
	body, err := ing.body.decode(s, ctx.PostBody(), ctx.Request.Header.Peek("Content-Encoding"))
	if err != nil {
		s.requestError(ctx, err, stylePlain)
		return
	}
	s.parseJSON(ing, body)
	ing.flush()
	s.finish(ctx, ing, stylePlain, "series")
}

// jsonReader is a cursor over a JSON body. str results alias the body or,
// for strings with escapes, ing.lbuf (kept until the series is done).
type jsonReader struct {
	b   []byte
	i   int
	err string // first syntax error; "" while fine
	ing *ingester
}

func (s *Server) parseJSON(ing *ingester, body []byte) {
	r := &jsonReader{b: body, ing: ing}
	item := 0
	fail := func() {
		ing.parseErrorf(item, 0, "JSON syntax error at byte %d: %s", r.i, r.err)
	}
	if !r.objStart() {
		item = 1
		fail()
		return
	}
	for r.more('}') {
		k := r.str()
		if !r.colon() {
			fail()
			return
		}
		if string(k) != "timeseries" {
			r.skip()
			continue
		}
		if !r.expect('[') {
			fail()
			return
		}
		for r.more(']') {
			item++
			if item > s.lim.MaxSeriesPerRequest {
				ing.parseErrorf(item, 0, "more than %d series (--ingest.max-series-per-request); the rest is not stored", s.lim.MaxSeriesPerRequest)
				return
			}
			if !s.jsonSeries(r, item) {
				fail()
				return
			}
			if ing.full() && !ing.flush() {
				return
			}
		}
		if r.err != "" {
			fail()
			return
		}
	}
	if r.err != "" {
		fail()
	}
}

// jsonSeries parses one {"labels": [...], "samples": [...]} object. On a
// syntax error it takes back what it added (samples precede their series
// in the batch until the series is complete).
func (s *Server) jsonSeries(r *jsonReader, item int) bool {
	ing := r.ing
	samples0, keys0, series0 := len(ing.b.Samples), len(ing.keys), len(ing.b.Series)
	if s.jsonSeriesBody(r, item) {
		return true
	}
	ing.b.Samples = ing.b.Samples[:samples0]
	ing.src = ing.src[:samples0]
	ing.keys = ing.keys[:keys0]
	clear(ing.b.Series[series0:])
	ing.b.Series = ing.b.Series[:series0]
	return false
}

func (s *Server) jsonSeriesBody(r *jsonReader, item int) bool {
	ing := r.ing
	ing.lbuf = ing.lbuf[:0]
	if !r.expect('{') {
		return false
	}
	start := ing.keyStart(keyJSON)
	samples0 := len(ing.b.Samples)
	// Samples may come before labels; collect them in the batch with a
	// placeholder series and fix the index once the key is complete.
	idx := uint32(len(ing.b.Series))
	haveLabels := false
	for r.more('}') {
		k := r.str()
		if !r.colon() {
			return false
		}
		switch string(k) {
		case "labels":
			if !r.expect('[') {
				return false
			}
			for r.more(']') {
				if !r.expect('{') {
					return false
				}
				var name, value []byte
				for r.more('}') {
					lk := r.str()
					if !r.colon() {
						return false
					}
					switch string(lk) {
					case "name":
						name = r.str()
					case "value":
						value = r.str()
					default:
						r.skip()
					}
					if r.err != "" {
						return false
					}
				}
				ing.keys = appendPair(ing.keys, name, value)
			}
			haveLabels = true
		case "samples":
			if !r.expect('[') {
				return false
			}
			for r.more(']') {
				if !r.expect('{') {
					return false
				}
				var t int64
				v := math.NaN()
				hasT, hasV := false, false
				for r.more('}') {
					sk := r.str()
					if !r.colon() {
						return false
					}
					switch string(sk) {
					case "timestamp":
						num := r.number()
						var err error
						if t, err = strconv.ParseInt(ustr(num), 10, 64); err != nil {
							r.err = fmt.Sprintf("timestamp %q is not an integer of milliseconds", truncate(num, 32))
							return false
						}
						hasT = true
					case "value":
						var ok bool
						if v, ok = r.value(); !ok {
							return false
						}
						hasV = true
					default:
						r.skip()
					}
					if r.err != "" {
						return false
					}
				}
				if !hasV {
					r.err = "sample without a value"
					return false
				}
				if !hasT {
					t = ing.now
				}
				ing.addSample(idx, t, v, item)
			}
		default:
			r.skip()
		}
		if r.err != "" {
			return false
		}
	}
	if r.err != "" {
		return false
	}
	if len(ing.b.Samples) == samples0 {
		ing.keys = ing.keys[:start]
		return true
	}
	if !haveLabels {
		ing.keys = ing.keys[:start]
		ing.b.Samples = ing.b.Samples[:samples0]
		ing.src = ing.src[:samples0]
		ing.parseError(item, 0, "series without labels")
		return true
	}
	got, hit := ing.series(start)
	if got != idx {
		panic("BUG: httpfast: JSON series index moved")
	}
	if !hit {
		if msg := ing.labelsFromKey(idx, ing.keys[start+1:]); msg != "" {
			ing.dropSeries(idx, start)
			ing.b.Samples = ing.b.Samples[:samples0]
			ing.src = ing.src[:samples0]
			ing.parseError(item, 0, msg)
		}
	}
	return true
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *jsonReader) objStart() bool { return r.expect('{') }

func (r *jsonReader) expect(c byte) bool {
	if r.err != "" {
		return false
	}
	r.ws()
	if r.i >= len(r.b) {
		r.err = fmt.Sprintf("unexpected end of body, want %q", c)
		return false
	}
	if r.b[r.i] != c {
		r.err = fmt.Sprintf("want %q, got %q", c, r.b[r.i])
		return false
	}
	r.i++
	return true
}

func (r *jsonReader) colon() bool { return r.expect(':') }

// more reports whether another element follows in an array or object
// closed by end, consuming the separating comma or the end.
func (r *jsonReader) more(end byte) bool {
	if r.err != "" {
		return false
	}
	r.ws()
	if r.i >= len(r.b) {
		r.err = "unexpected end of body"
		return false
	}
	c := r.b[r.i]
	if c == end {
		r.i++
		return false
	}
	if c == ',' && r.i > 0 {
		r.i++
		r.ws()
		if r.i < len(r.b) && r.b[r.i] == end {
			r.err = "trailing comma"
			return false
		}
		return true
	}
	// First element: the previous byte is the opening bracket.
	if p := r.prevNonWS(); p == '[' || p == '{' {
		return true
	}
	r.err = fmt.Sprintf("want ',' or %q, got %q", end, c)
	return false
}

func (r *jsonReader) prevNonWS() byte {
	for j := r.i - 1; j >= 0; j-- {
		switch r.b[j] {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return r.b[j]
	}
	return 0
}

// str parses a string and returns its bytes (unescaped).
func (r *jsonReader) str() []byte {
	if !r.expect('"') {
		return nil
	}
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '"' {
			out := r.b[start:r.i]
			r.i++
			return out
		}
		if c == '\\' {
			return r.strEscaped(start)
		}
		if c < 0x20 {
			r.err = "control character in string"
			return nil
		}
		r.i++
	}
	r.err = "unterminated string"
	return nil
}

func (r *jsonReader) strEscaped(start int) []byte {
	ing := r.ing
	o := len(ing.lbuf)
	buf := append(ing.lbuf, r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			ing.lbuf = buf
			return buf[o:len(buf):len(buf)]
		case c < 0x20:
			r.err = "control character in string"
			return nil
		case c != '\\':
			buf = append(buf, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			break
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			cp, ok := r.hex4()
			if !ok {
				return nil
			}
			if utf16.IsSurrogate(cp) {
				if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					r.i += 2
					lo, ok := r.hex4()
					if !ok {
						return nil
					}
					cp = utf16.DecodeRune(cp, lo)
				} else {
					cp = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, cp)
		default:
			r.err = fmt.Sprintf("invalid escape \\%c", e)
			return nil
		}
	}
	r.err = "unterminated string"
	return nil
}

func (r *jsonReader) hex4() (rune, bool) {
	if r.i+4 > len(r.b) {
		r.err = "truncated \\u escape"
		return 0, false
	}
	v, err := strconv.ParseUint(ustr(r.b[r.i:r.i+4]), 16, 16)
	if err != nil {
		r.err = "invalid \\u escape"
		return 0, false
	}
	r.i += 4
	return rune(v), true
}

// number returns the bytes of a JSON number.
func (r *jsonReader) number() []byte {
	if r.err != "" {
		return nil
	}
	r.ws()
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			r.i++
			continue
		}
		break
	}
	if r.i == start {
		r.err = "want a number"
		return nil
	}
	return r.b[start:r.i]
}

// value parses a sample value: a number, or a string with a number, NaN
// or ±Inf.
func (r *jsonReader) value() (float64, bool) {
	r.ws()
	var b []byte
	if r.i < len(r.b) && r.b[r.i] == '"' {
		b = r.str()
	} else {
		b = r.number()
	}
	if r.err != "" {
		return 0, false
	}
	v, err := strconv.ParseFloat(ustr(b), 64)
	if err != nil {
		r.err = fmt.Sprintf("value %q is not a number", truncate(b, 32))
		return 0, false
	}
	return v, true
}

// skip skips any JSON value.
func (r *jsonReader) skip() {
	if r.err != "" {
		return
	}
	r.ws()
	if r.i >= len(r.b) {
		r.err = "unexpected end of body"
		return
	}
	switch c := r.b[r.i]; {
	case c == '"':
		r.str()
	case c == '{':
		r.i++
		for r.more('}') {
			r.str()
			if !r.colon() {
				return
			}
			r.skip()
		}
	case c == '[':
		r.i++
		for r.more(']') {
			r.skip()
		}
	case c == 't' || c == 'f' || c == 'n':
		for _, w := range []string{"true", "false", "null"} {
			if len(r.b)-r.i >= len(w) && string(r.b[r.i:r.i+len(w)]) == w {
				r.i += len(w)
				return
			}
		}
		r.err = "invalid literal"
	default:
		r.number()
	}
}
