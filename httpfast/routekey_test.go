package httpfast

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInflux_RouteKeysUnambiguous: an Influx route-cache key must name one
// label set. Built as db NUL series-key NUL field, the key of series "a",
// field "b" in db "m" was the key of measurement "m\x00a", field "b" without
// a db, and of series "m", field "a\x00b": the second and third request hit
// the first one's route and were stored into {db="m", __name__="a_b"}.
func TestInflux_RouteKeysUnambiguous(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.InfluxDBLabel = "db" })
	require.Equal(t, 204, ts.post("/write?db=m", []byte("a b=1 1000000")).code)
	r1 := ts.post("/write", []byte("m\x00a b=2 2000000"))
	r2 := ts.post("/write", []byte("m a\x00b=3 3000000"))
	got := ts.read()
	require.Equal(t, []sample{{1, 1}}, got[`{__name__="a_b", db="m"}`], "r1 %d %s, r2 %d %s; all: %v", r1.code, r1.body, r2.code, r2.body, got)
}

// TestTextImport_RouteKeysUnambiguous: the text import key was the
// extra_label pairs (length-prefixed) followed by the series as written,
// so a metric whose name spells a pair (a name of 97 bytes starts with the
// length byte 'a') shared the key of a series with that extra label, and
// was stored into it.
func TestTextImport_RouteKeysUnambiguous(t *testing.T) {
	ts := newTestServer(t)
	n, v := strings.Repeat("x", 97), strings.Repeat("y", 98)
	r := ts.post("/api/v1/import/prometheus?extra_label="+n+"="+v, []byte("m 1 1000\n"))
	require.Equal(t, 204, r.code, r.body)
	long := "a" + n + "b" + v + "m"
	r = ts.post("/api/v1/import/prometheus", []byte(long+" 2 2000\n"))
	require.Equal(t, 204, r.code, r.body)
	got := ts.read()
	require.Equal(t, map[string][]sample{
		`{__name__="m", ` + n + `="` + v + `"}`: {{1000, 1}},
		`{__name__="` + long + `"}`:             {{2000, 2}},
	}, got)
}
