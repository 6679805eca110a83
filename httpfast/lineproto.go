package httpfast

import (
	"bytes"
	"math"
	"strconv"
)

// InfluxDB line protocol, as specified by InfluxData:
//
//	measurement[,tag_key=tag_value...] field_key=field_value[,...] [timestamp]
//
// Escapes: in the measurement, "\," and "\ "; in tag keys, tag values and
// field keys, "\,", "\=" and "\ "; a backslash before any other byte is a
// literal backslash (and still escapes that byte from being a delimiter,
// as InfluxDB's scanner does). Field values: floats (1, -1.5, 1e3),
// integers (1i), unsigned integers (1u), booleans (t, T, true, True, TRUE,
// f, ...) and double-quoted strings ("\"" and "\\" escaped; no newline).
// NaN and Inf are not valid line protocol. Lines starting with '#' are
// comments; blank lines and a trailing "\r" are ignored.

// lpField kinds.
const (
	lpNumber uint8 = iota
	lpString
)

type lpTag struct{ k, v []byte } // raw (escaped) bytes of the line

type lpField struct {
	k    []byte // raw field key
	v    float64
	kind uint8
}

// lpLine is one parsed line; its slices alias the body. Reused per line.
type lpLine struct {
	key  []byte  // measurement and tags exactly as sent: the series key
	meas []byte  // raw measurement (when keyParsed)
	tags []lpTag // (when keyParsed)
	// keyParsed: meas and tags are set and the key is valid (parseLine,
	// or parseSeriesKey after parseLineLazy).
	keyParsed bool
	fields    []lpField
	ts        int64 // as sent, in the request's precision
	hasTS     bool
}

// lpError is a parse error: a constant reason and the 1-based column.
type lpError struct {
	col int
	msg string
	tok []byte // the offending token, when there is one
}

// parseLine parses one line (without its newline). ok is false with err
// describing the first problem.
func parseLine(line []byte, l *lpLine) (err lpError, ok bool) {
	i, err, ok := parseSeriesKey(line, l)
	if !ok {
		return err, false
	}
	return parseFields(line, i, l)
}

// parseLineLazy is parseLine without the series key's measurement and
// tags: it finds where the key ends (the first unescaped space) and parses
// the fields and the timestamp. A key the route cache knows was parsed
// and validated when it was learnt (the same bytes), so a hit needs no
// more; on a miss the caller calls parseSeriesKey. A line that fails is
// parsed again by parseLine, so the problem reported is the first one in
// the line, as parseLine reports it.
func parseLineLazy(line []byte, l *lpLine) (err lpError, ok bool) {
	l.keyParsed = false
	i := keyEnd(line)
	if i == 0 || i >= len(line) {
		return parseLine(line, l)
	}
	l.key = line[:i]
	if _, ok := parseFields(line, i, l); !ok {
		return parseLine(line, l)
	}
	return lpError{}, true
}

// keyEnd returns the end of the series key at the start of line: its
// first unescaped space (len(line) if none).
func keyEnd(line []byte) int {
	// Usually there is no backslash before the first space: two vectorised
	// scans instead of a loop over the key's bytes.
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		sp = len(line)
	}
	if bytes.IndexByte(line[:sp], '\\') < 0 {
		return sp
	}
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case ' ':
			return i
		}
	}
	return len(line)
}

// parseSeriesKey parses the measurement and tags of line into l and
// returns where the key ends.
func parseSeriesKey(line []byte, l *lpLine) (end int, err lpError, ok bool) {
	l.tags = l.tags[:0]
	l.keyParsed = false
	n := len(line)
	i := scanKeyPart(line, 0)
	if i == 0 {
		return 0, lpError{col: 1, msg: "missing measurement"}, false
	}
	l.meas = line[:i]
	for i < n && line[i] == ',' {
		ks := i + 1
		j := scanTagPart(line, ks)
		if j >= n || line[j] != '=' {
			return 0, lpError{col: ks + 1, msg: "tag without '='", tok: line[ks:j]}, false
		}
		if j == ks {
			return 0, lpError{col: ks + 1, msg: "empty tag key"}, false
		}
		vs := j + 1
		k := scanTagPart(line, vs)
		if k < n && line[k] == '=' {
			return 0, lpError{col: k + 1, msg: "unescaped '=' in tag value", tok: line[vs:k]}, false
		}
		if k == vs {
			return 0, lpError{col: vs + 1, msg: "empty tag value", tok: line[ks:j]}, false
		}
		l.tags = append(l.tags, lpTag{k: line[ks:j], v: line[vs:k]})
		i = k
	}
	l.key = line[:i]
	l.keyParsed = true
	return i, lpError{}, true
}

// parseFields parses the fields and the timestamp of line, which start
// after the series key ending at i.
func parseFields(line []byte, i int, l *lpLine) (err lpError, ok bool) {
	l.fields = l.fields[:0]
	l.hasTS = false
	n := len(line)
	if i >= n {
		return lpError{col: i + 1, msg: "missing fields"}, false
	}
	// line[i] is a space.
	for i < n && line[i] == ' ' {
		i++
	}
	if i >= n {
		return lpError{col: i + 1, msg: "missing fields"}, false
	}
	for {
		ks := i
		j := scanTagPart(line, ks)
		if j >= n || line[j] != '=' {
			return lpError{col: ks + 1, msg: "field without '='", tok: line[ks:j]}, false
		}
		if j == ks {
			return lpError{col: ks + 1, msg: "empty field key"}, false
		}
		vs := j + 1
		if vs >= n {
			return lpError{col: vs + 1, msg: "missing field value", tok: line[ks:j]}, false
		}
		f := lpField{k: line[ks:j]}
		var e int
		if line[vs] == '"' {
			e = vs + 1
			for e < n && line[e] != '"' {
				if line[e] == '\\' {
					e++
				}
				e++
			}
			if e >= n {
				return lpError{col: vs + 1, msg: "unterminated string field value"}, false
			}
			e++
			f.kind = lpString
		} else {
			e = vs
			for e < n && line[e] != ',' && line[e] != ' ' {
				e++
			}
			v, ok := parseFieldValue(line[vs:e])
			if !ok {
				return lpError{col: vs + 1, msg: "invalid field value", tok: line[vs:e]}, false
			}
			f.v = v
		}
		l.fields = append(l.fields, f)
		if e >= n {
			return lpError{}, true
		}
		if line[e] == ',' {
			i = e + 1
			continue
		}
		i = e
		break
	}
	for i < n && line[i] == ' ' {
		i++
	}
	if i >= n {
		return lpError{}, true
	}
	ts := i
	for i < n && line[i] != ' ' {
		i++
	}
	t, short := parseShortInt(line[ts:i])
	var err2 error
	if !short {
		t, err2 = strconv.ParseInt(ustr(line[ts:i]), 10, 64)
	}
	if err2 != nil {
		if ne, isNum := err2.(*strconv.NumError); isNum && ne.Err == strconv.ErrRange {
			return lpError{col: ts + 1, msg: "timestamp out of range", tok: line[ts:i]}, false
		}
		return lpError{col: ts + 1, msg: "invalid timestamp", tok: line[ts:i]}, false
	}
	for i < n && line[i] == ' ' {
		i++
	}
	if i < n {
		return lpError{col: i + 1, msg: "unexpected text after the timestamp", tok: line[i:]}, false
	}
	l.ts, l.hasTS = t, true
	return lpError{}, true
}

// pow10 holds the powers of ten a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseShortFloat parses the usual field value: an optional '-', at most
// 15 digits with at most one '.', no exponent. Such a value's digits are
// an exact float64 and so is its power of ten, so one IEEE division gives
// the correctly rounded result, the same bits as strconv.ParseFloat (the
// classic exact fast path). ok false: not of that form.
func parseShortFloat(b []byte) (float64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var m uint64
	digits, frac := 0, -1
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			m = m*10 + uint64(c-'0')
			digits++
		case c == '.' && frac < 0:
			frac = len(b) - i - 1
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	v := float64(m)
	if frac > 0 {
		v /= pow10[frac]
	}
	if neg {
		v = -v
	}
	return v, true
}

// parseShortInt parses a decimal integer of at most 19 digits (which fit
// a uint64: nanosecond timestamps have 19) with an optional '-', in the
// int64 range; ok false: not of that form or out of range (the caller
// uses strconv, which also names the error).
func parseShortInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case !neg && u <= math.MaxInt64:
		return int64(u), true
	case neg && u <= 1<<63:
		return int64(-u), true // -1<<63 wraps to itself
	}
	return 0, false
}

// scanKeyPart returns the end of the measurement starting at i: the first
// unescaped ',' or ' '.
func scanKeyPart(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case '\\':
			i += 2
			continue
		case ',', ' ':
			return i
		}
		i++
	}
	return len(b)
}

// scanTagPart returns the end of a tag key, tag value or field key
// starting at i: the first unescaped ',', ' ' or '='.
func scanTagPart(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case '\\':
			i += 2
			continue
		case ',', ' ', '=':
			return i
		}
		i++
	}
	return len(b)
}

// parseFieldValue parses a non-string field value: a float, an integer
// ("i" suffix), an unsigned integer ("u" suffix) or a boolean.
func parseFieldValue(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	switch b[0] {
	case 't', 'T', 'f', 'F':
		switch string(b) {
		case "t", "T", "true", "True", "TRUE":
			return 1, true
		case "f", "F", "false", "False", "FALSE":
			return 0, true
		}
		return 0, false
	}
	last := b[len(b)-1]
	switch last {
	case 'i':
		v, err := strconv.ParseInt(ustr(b[:len(b)-1]), 10, 64)
		return float64(v), err == nil
	case 'u':
		v, err := strconv.ParseUint(ustr(b[:len(b)-1]), 10, 64)
		return float64(v), err == nil
	}
	if v, ok := parseShortFloat(b); ok {
		return v, true
	}
	// Only decimal floats: no NaN, Inf, hex floats or digit separators,
	// which strconv would accept and line protocol does not.
	digits := false
	for j, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == 'e' || c == 'E':
		case (c == '-' || c == '+') && (j == 0 || b[j-1] == 'e' || b[j-1] == 'E'):
		default:
			return 0, false
		}
	}
	if !digits {
		return 0, false
	}
	v, err := strconv.ParseFloat(ustr(b), 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// unescapeLP appends b to dst with the line-protocol escapes removed: a
// backslash before one of specials is dropped.
func unescapeLP(dst, b []byte, specials string) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' && i+1 < len(b) {
			n := b[i+1]
			for j := 0; j < len(specials); j++ {
				if n == specials[j] {
					c = n
					i++
					break
				}
			}
		}
		dst = append(dst, c)
	}
	return dst
}

// lpPrecision converts a line-protocol timestamp to milliseconds.
type lpPrecision struct {
	div, mul int64 // exactly one is not 1
}

// parsePrecision parses v1's precision (n, ns, u, us, µ, ms, s, m, h) or
// v2's (ns, us, ms, s); "" is nanoseconds.
func parsePrecision(p []byte, v2 bool) (lpPrecision, bool) {
	switch string(p) {
	case "", "ns":
		return lpPrecision{div: 1e6, mul: 1}, true
	case "us":
		return lpPrecision{div: 1e3, mul: 1}, true
	case "ms":
		return lpPrecision{div: 1, mul: 1}, true
	case "s":
		return lpPrecision{div: 1, mul: 1e3}, true
	}
	if v2 {
		return lpPrecision{}, false
	}
	switch string(p) {
	case "n":
		return lpPrecision{div: 1e6, mul: 1}, true
	case "u", "µ":
		return lpPrecision{div: 1e3, mul: 1}, true
	case "m":
		return lpPrecision{div: 1, mul: 60e3}, true
	case "h":
		return lpPrecision{div: 1, mul: 3600e3}, true
	}
	return lpPrecision{}, false
}

// toMillis converts t; ok is false when the result overflows.
func (p lpPrecision) toMillis(t int64) (int64, bool) {
	if p.div != 1 {
		q := t / p.div
		if t%p.div < 0 {
			q-- // floor, so -1ns is in the millisecond before 0
		}
		return q, true
	}
	if t > math.MaxInt64/p.mul || t < math.MinInt64/p.mul {
		return 0, false
	}
	return t * p.mul, true
}
