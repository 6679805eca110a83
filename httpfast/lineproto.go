package httpfast

import (
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
	key    []byte // measurement and tags exactly as sent: the series key
	meas   []byte // raw measurement
	tags   []lpTag
	fields []lpField
	ts     int64 // as sent, in the request's precision
	hasTS  bool
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
	l.tags = l.tags[:0]
	l.fields = l.fields[:0]
	l.hasTS = false
	n := len(line)
	i := scanKeyPart(line, 0)
	if i == 0 {
		return lpError{col: 1, msg: "missing measurement"}, false
	}
	l.meas = line[:i]
	for i < n && line[i] == ',' {
		ks := i + 1
		j := scanTagPart(line, ks)
		if j >= n || line[j] != '=' {
			return lpError{col: ks + 1, msg: "tag without '='", tok: line[ks:j]}, false
		}
		if j == ks {
			return lpError{col: ks + 1, msg: "empty tag key"}, false
		}
		vs := j + 1
		k := scanTagPart(line, vs)
		if k < n && line[k] == '=' {
			return lpError{col: k + 1, msg: "unescaped '=' in tag value", tok: line[vs:k]}, false
		}
		if k == vs {
			return lpError{col: vs + 1, msg: "empty tag value", tok: line[ks:j]}, false
		}
		l.tags = append(l.tags, lpTag{k: line[ks:j], v: line[vs:k]})
		i = k
	}
	l.key = line[:i]
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
	t, err2 := strconv.ParseInt(ustr(line[ts:i]), 10, 64)
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
