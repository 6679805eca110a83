package httpfast

import (
	"bytes"
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkLazyLine asserts that parseLineLazy (then parseSeriesKey, as the
// parser does on a route-cache miss) accepts and rejects exactly the lines
// parseLine does, with the same key, fields, timestamp and first problem.
func checkLazyLine(t *testing.T, line []byte) {
	var full, lazy lpLine
	fe, fok := parseLine(line, &full)
	le, lok := parseLineLazy(line, &lazy)
	if lok && !lazy.keyParsed {
		_, le, lok = parseSeriesKey(line, &lazy)
	}
	require.Equal(t, fok, lok, "%q", line)
	if !fok {
		require.Equal(t, fe, le, "%q", line)
		return
	}
	require.Equal(t, string(full.key), string(lazy.key), "%q", line)
	require.Equal(t, string(full.meas), string(lazy.meas), "%q", line)
	require.Equal(t, full.tags, lazy.tags, "%q", line)
	require.Equal(t, full.hasTS, lazy.hasTS, "%q", line)
	require.Equal(t, full.ts, lazy.ts, "%q", line)
	require.Len(t, lazy.fields, len(full.fields), "%q", line)
	for i := range full.fields {
		require.Equal(t, string(full.fields[i].k), string(lazy.fields[i].k))
		require.Equal(t, full.fields[i].kind, lazy.fields[i].kind)
		if full.fields[i].v == full.fields[i].v { // not NaN
			require.Equal(t, full.fields[i].v, lazy.fields[i].v)
		}
	}
}

var lazyLineSeeds = []string{
	"cpu,host=a,region=eu\\ west usage_idle=99.5,usage_user=2i 1700000000000000000",
	"m value=1", "m  value=1  123  ", "m,a=b value=1 -5", "m,a value=1", "m,=b value=1", "m,a= value=1",
	"m,a=b=c value=1", ",a=b value=1", " value=1", "m", "m,a=b", "m,a=b ", "m v=", "m v=x",
	"m\\ x,a\\=b=c\\,d v=1", "m\\", "m,a=b\\", "m,a=b\\ c v=1u", "m v=\"s\\\"x\" 1", "m v=1 1 2",
	"m v=1 9223372036854775808", "m v=1 -9223372036854775808", "m v=1 12a", "m,a=b,a=c v=t",
	"m,a=b v=1,w=2i,x=\"s\",y=F 3", "m,a=b\\,c=d v=1",
	"123456789012345678", "-123456789012345678", "1234567890123456789", "9223372036854775807", "9999999999999999999", "-0", "0.1", "-0.0", "1.", ".5", "-.5",
	"123456789012345", "1234567890123456", "0.000000000000001", "99999999999999.9", "3.14159265358979", "1e5",
}

// TestParseShortNumbers: the fast paths agree with strconv bit for bit.
func TestParseShortNumbers(t *testing.T) {
	for _, s := range lazyLineSeeds {
		b := []byte(s)
		if v, ok := parseShortInt(b); ok {
			w, err := strconv.ParseInt(s, 10, 64)
			require.NoError(t, err, s)
			require.Equal(t, w, v, s)
		}
		if v, ok := parseShortFloat(b); ok {
			w, err := strconv.ParseFloat(s, 64)
			require.NoError(t, err, s)
			require.Equal(t, math.Float64bits(w), math.Float64bits(v), s)
		}
	}
	_, ok := parseShortFloat([]byte("1234567890123456"))
	require.False(t, ok, "16 digits take strconv")
	v, ok := parseShortInt([]byte("1764000000000000000"))
	require.True(t, ok, "nanosecond timestamps take the fast path")
	require.Equal(t, int64(1764000000000000000), v)
	for _, s := range []string{"9223372036854775808", "-9223372036854775809", "99999999999999999999", "+1", "1_0"} {
		_, ok = parseShortInt([]byte(s))
		require.False(t, ok, s)
	}
	v, ok = parseShortInt([]byte("-9223372036854775808"))
	require.True(t, ok)
	require.Equal(t, int64(math.MinInt64), v)
}

func TestParseLineLazy_SameAsParseLine(t *testing.T) {
	for _, s := range lazyLineSeeds {
		checkLazyLine(t, []byte(s))
	}
}

func FuzzParseLineLazy(f *testing.F) {
	for _, s := range lazyLineSeeds {
		addSeed(f, "FuzzParseLineLazy", []byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.IndexByte(line, '\n') >= 0 {
			return // parseInflux splits lines first
		}
		checkLazyLine(t, line)
		if v, ok := parseShortInt(line); ok {
			w, err := strconv.ParseInt(string(line), 10, 64)
			require.NoError(t, err, "%q", line)
			require.Equal(t, w, v, "%q", line)
		}
		if v, ok := parseShortFloat(line); ok {
			w, err := strconv.ParseFloat(string(line), 64)
			require.NoError(t, err, "%q", line)
			require.Equal(t, math.Float64bits(w), math.Float64bits(v), "%q", line)
		}
	})
}
