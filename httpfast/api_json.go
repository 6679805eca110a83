package httpfast

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
)

// JSON appenders for query results. They write what Prometheus writes:
// timestamps as seconds with the milliseconds after the point (1.500, not
// 1.5: Prometheus keeps the three digits), values as strings in the
// shortest form that round-trips ('f', or 'e' below 1e-6 and from 1e21),
// "NaN", "+Inf", "-Inf"; strings escaped as encoding/json escapes them
// (HTML characters included), so the bytes match Prometheus's.

const hexDigits = "0123456789abcdef"

// appendJSONQuoted appends s as a JSON string, escaped as encoding/json
// does (invalid UTF-8 becomes U+FFFD).
func appendJSONQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendTimestamp appends ms t as seconds: 1700000000.5 s is 1700000000.500.
func appendTimestamp(b []byte, t int64) []byte {
	if t < 0 {
		b = append(b, '-')
		t = -t
	}
	b = strconv.AppendInt(b, t/1000, 10)
	if f := t % 1000; f != 0 {
		b = append(b, '.')
		if f < 100 {
			b = append(b, '0')
		}
		if f < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, f, 10)
	}
	return b
}

// appendFloatValue appends v as a quoted sample value.
func appendFloatValue(b []byte, v float64) []byte {
	b = append(b, '"')
	b = appendFloat(b, v)
	return append(b, '"')
}

// appendFloat appends v unquoted, in Prometheus's sample value format.
func appendFloat(b []byte, v float64) []byte {
	format := byte('f')
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, v, format, -1, 64)
}

// appendLabels appends ls as a JSON object in label order.
func appendLabels(b []byte, ls labels.Labels) []byte {
	b = append(b, '{')
	first := true
	ls.Range(func(l labels.Label) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONQuoted(b, l.Name)
		b = append(b, ':')
		b = appendJSONQuoted(b, l.Value)
	})
	return append(b, '}')
}

// appendPoint appends [t,"v"].
func appendPoint(b []byte, t int64, v float64) []byte {
	b = append(b, '[')
	b = appendTimestamp(b, t)
	b = append(b, ',')
	b = appendFloatValue(b, v)
	return append(b, ']')
}

// seriesList is the series endpoint's data: a list of label sets.
type seriesList []labels.Labels

func (sl seriesList) AppendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, ls := range sl {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLabels(b, ls)
	}
	return append(b, ']')
}

// stringList is a list of strings that encodes as [] when empty.
type stringList []string

func (sl stringList) AppendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, s := range sl {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONQuoted(b, s)
	}
	return append(b, ']')
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// appendJSONNumber appends f as encoding/json writes a float64 ('f', or
// 'e' below 1e-6 and from 1e21 with a one-digit exponent kept short).
func appendJSONNumber(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
