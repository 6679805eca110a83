package httpfast

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestInflux_WriteAndReadBack(t *testing.T) {
	ts := newTestServer(t)
	body := strings.Join([]string{
		`# a comment`,
		`cpu,host=a,region=eu\ west usage_idle=99.5,usage_user=0.5 1700000000000000000`,
		`cpu,host=a,region=eu\ west usage_idle=98,usage_user=2i 1700000015000000000`,
		`mem,host=a value=42u 1700000000000000000`,
		`disk\,x,path=/var\=1 used=t,free=F,label="a string \" skipped" 1700000000000000000`,
		``,
		`  net,host=b bytes=1e3`,
	}, "\n")
	r := ts.post("/write?db=telegraf", []byte(body))
	require.Equal(t, 204, r.code, r.body)
	got := ts.read()
	require.Equal(t, map[string][]sample{
		`{__name__="cpu_usage_idle", host="a", region="eu west"}`: {{1700000000000, 99.5}, {1700000015000, 98}},
		`{__name__="cpu_usage_user", host="a", region="eu west"}`: {{1700000000000, 0.5}, {1700000015000, 2}},
		`{__name__="mem", host="a"}`:                              {{1700000000000, 42}},
		`{__name__="disk_x_used", path="/var=1"}`:                 {{1700000000000, 1}},
		`{__name__="disk_x_free", path="/var=1"}`:                 {{1700000000000, 0}},
		`{__name__="net_bytes", host="b"}`:                        {{testNow.UnixMilli(), 1000}},
	}, got)
	// The second request hits the route cache for every series.
	r = ts.post("/api/v2/write?org=o&bucket=b&precision=s", []byte("cpu,host=a,region=eu\\ west usage_idle=97 1700000030\nmem,host=a value=43u 1700000030"), "Content-Encoding", "gzip")
	require.Equal(t, 400, r.code, "a gzip header on a plain body: %s", r.body)
	r = ts.post("/api/v2/write?org=o&bucket=b&precision=s", gzipBytes(t, []byte("cpu,host=a,region=eu\\ west usage_idle=97 1700000030\nmem,host=a value=43u 1700000030")), "Content-Encoding", "gzip")
	require.Equal(t, 204, r.code, r.body)
	got = ts.read()
	require.Equal(t, []sample{{1700000000000, 99.5}, {1700000015000, 98}, {1700000030000, 97}}, got[`{__name__="cpu_usage_idle", host="a", region="eu west"}`])
	require.Equal(t, []sample{{1700000000000, 42}, {1700000030000, 43}}, got[`{__name__="mem", host="a"}`])
}

func TestInflux_DBLabel(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.InfluxDBLabel = "db" })
	require.Equal(t, 204, ts.post("/write?db=one", []byte("m v=1 1000000")).code)
	require.Equal(t, 204, ts.post("/write?db=two", []byte("m v=2 1000000")).code)
	require.Equal(t, 204, ts.post("/api/v2/write?bucket=three", []byte("m v=3 1000000")).code)
	require.Equal(t, map[string][]sample{
		`{__name__="m_v", db="one"}`:   {{1, 1}},
		`{__name__="m_v", db="two"}`:   {{1, 2}},
		`{__name__="m_v", db="three"}`: {{1, 3}},
	}, ts.read())
}

func TestInflux_PartlyBadBody(t *testing.T) {
	ts := newTestServer(t)
	body := "good v=1 1000000000\nbad v=abc 1000000000\ngood v=2 2000000000\nbad2 v=1 1000000000 extra\n"
	r := ts.post("/api/v2/write?bucket=x", []byte(body))
	require.Equal(t, 400, r.code)
	require.Contains(t, r.body, `"code":"invalid"`)
	require.Contains(t, r.body, `line 2 column 7: parse_error: invalid field value: \"abc\"`)
	require.Contains(t, r.body, `line 4 column 21: parse_error: unexpected text after the timestamp`)
	require.Contains(t, r.body, `"line":2`)
	require.Equal(t, map[string][]sample{`{__name__="good_v"}`: {{1000, 1}, {2000, 2}}}, ts.read())
}

func TestInflux_CoreRejectsNameLines(t *testing.T) {
	ts := newTestServer(t)
	require.Equal(t, 204, ts.post("/write?precision=ms", []byte("m v=1 5000")).code)
	r := ts.post("/write?precision=ms", []byte("m v=2 6000\nm v=3 4000\nm v=4 6000\nm v=5 7000"))
	require.Equal(t, 400, r.code, r.body)
	// Line 2 is late (older than the series' last sample): stored.
	require.Contains(t, r.body, "1 rejected (duplicate_timestamp: 1)")
	require.Contains(t, r.body, "line 3: duplicate_timestamp")
	require.Contains(t, r.body, `{"error":`)
	require.Equal(t, []sample{{4000, 3}, {5000, 1}, {6000, 2}, {7000, 5}}, ts.read()[`{__name__="m_v"}`])

	// Outside the time bounds: named by line and reason.
	future := time.Now().Add(72 * time.Hour).UnixMilli()
	r = ts.post("/write?precision=ms", fmt.Appendf(nil, "m v=6 8000\nm v=7 %d", future))
	require.Equal(t, 400, r.code, r.body)
	require.Contains(t, r.body, "1 rejected (too_far_in_future: 1)")
	require.Contains(t, r.body, "line 2: too_far_in_future")
	require.Contains(t, r.body, "--ingest.max-future")
}
