// Package influx tests the server with the official InfluxDB v2 Go client
// (a real client, in its own module so the main module does not depend
// on it). Run: cd httpfast/clienttest/influx && go test ./...
package influx

import (
	"context"
	"math"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/httpfasttest"
	"github.com/silverback-tsdb/tsdb/pipeline"
)

func TestInfluxClient_WriteAndReadBack(t *testing.T) {
	db, err := pipeline.Open(t.TempDir(), pipeline.Options{Shards: 2, HeadGCInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) }) // after the server's shutdown
	s, err := httpfast.New(httpfast.Options{})
	require.NoError(t, err)
	s.SetStorage(db)
	hostPort := httpfasttest.Serve(t, s)

	client := influxdb2.NewClientWithOptions("http://"+hostPort, "token",
		influxdb2.DefaultOptions().SetPrecision(time.Millisecond))
	defer client.Close()
	w := client.WriteAPIBlocking("org", "bucket")
	t0 := time.UnixMilli(1_700_000_000_000)
	type want struct {
		labels string
		t      int64
		v      float64
	}
	var wants []want
	var points []*write.Point
	for i := range 50 {
		ts := t0.Add(time.Duration(i) * 15 * time.Second)
		p := influxdb2.NewPoint("system",
			map[string]string{"host": "web 1", "dc": "eu,west"},
			map[string]any{"load1": 0.25 * float64(i), "procs": int64(100 + i), "uptime": uint64(1000 + i), "up": i%2 == 0, "note": "strings are skipped"},
			ts)
		points = append(points, p)
		up := 0.0
		if i%2 == 0 {
			up = 1
		}
		l := `, dc="eu,west", host="web 1"}`
		wants = append(wants,
			want{`{__name__="system_load1"` + l, ts.UnixMilli(), 0.25 * float64(i)},
			want{`{__name__="system_procs"` + l, ts.UnixMilli(), float64(100 + i)},
			want{`{__name__="system_uptime"` + l, ts.UnixMilli(), float64(1000 + i)},
			want{`{__name__="system_up"` + l, ts.UnixMilli(), up},
		)
	}
	require.NoError(t, w.WritePoint(context.Background(), points[:25]...))
	require.NoError(t, w.WritePoint(context.Background(), points[25:]...))
	// A point with field "value" is named after its measurement.
	require.NoError(t, w.WritePoint(context.Background(), influxdb2.NewPoint("temperature", map[string]string{"room": "lab"}, map[string]any{"value": 21.5}, t0)))
	wants = append(wants, want{`{__name__="temperature", room="lab"}`, t0.UnixMilli(), 21.5})

	ok, err := client.Ping(context.Background())
	require.NoError(t, err)
	require.True(t, ok)

	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	ss, err := q.Select(context.Background(), labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	require.NoError(t, err)
	got := map[string]map[int64]float64{}
	var it *pipeline.SampleIterator
	for ss.Next() {
		m := map[int64]float64{}
		it = ss.At().Iterator(it)
		for it.Next() {
			ts, v := it.At()
			m[ts] = v
		}
		got[ss.At().Labels().String()] = m
	}
	require.Len(t, got, 5, "four number fields and one value field; the string field is skipped")
	for _, w := range wants {
		require.Equal(t, w.v, got[w.labels][w.t], "%s at %d", w.labels, w.t)
	}
}
