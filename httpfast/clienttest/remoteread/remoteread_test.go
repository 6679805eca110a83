// Package remoteread tests remote read with Prometheus 3.16's own remote
// read client (storage/remote), which asks for STREAMED_XOR_CHUNKS and
// decodes the framed chunk stream; in its own module so the main module
// does not depend on Prometheus's storage packages. Run:
// cd httpfast/clienttest/remoteread && go test ./...
package remoteread

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/httpfasttest"
	"github.com/silverback-tsdb/tsdb/pipeline"
)

func TestPrometheusReadClient_StreamedChunks(t *testing.T) {
	db, err := pipeline.Open(t.TempDir(), pipeline.Options{Shards: 2, HeadGCInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) }) // after the server's shutdown
	s, err := httpfast.New(httpfast.Options{})
	require.NoError(t, err)
	s.SetStorage(db)
	s.SetQueryBackend(&httpfast.QueryBackend{DB: db})
	hostPort := httpfasttest.Serve(t, s)
	addr := "http://" + hostPort

	// 3 series of 500 samples (5 chunks of 120 each), one with NaN.
	var body strings.Builder
	want := map[string][][2]float64{}
	for i := range 500 {
		ts := int64(1_700_000_000_000 + i*15_000)
		for h := range 3 {
			v := float64(i*10 + h)
			if h == 2 && i == 7 {
				v = math.NaN()
			}
			fmt.Fprintf(&body, "rr{host=\"h%d\"} %v %d\n", h, v, ts)
			key := fmt.Sprintf(`{__name__="rr", host="h%d"}`, h)
			want[key] = append(want[key], [2]float64{float64(ts), v})
		}
	}
	resp, err := (&httpPoster{}).post(addr+"/api/v1/import/prometheus", body.String())
	require.NoError(t, err)
	require.Equal(t, 204, resp)

	u, err := url.Parse(addr + "/api/v1/read")
	require.NoError(t, err)
	rc, err := remote.NewReadClient("silverback", &remote.ClientConfig{
		URL:              &config_util.URL{URL: u},
		Timeout:          model.Duration(10 * time.Second),
		ChunkedReadLimit: 50 << 20,
	})
	require.NoError(t, err)
	q := &prompb.Query{StartTimestampMs: 0, EndTimestampMs: math.MaxInt64,
		Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "rr"}}}
	ss, err := rc.Read(context.Background(), q, true)
	require.NoError(t, err)
	got := map[string][][2]float64{}
	var it chunkenc.Iterator
	for ss.Next() {
		se := ss.At()
		it = se.Iterator(it)
		key := se.Labels().String()
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			got[key] = append(got[key], [2]float64{float64(ts), v})
		}
		require.NoError(t, it.Err())
	}
	require.NoError(t, ss.Err())
	require.Len(t, got, 3)
	for k, ws := range want {
		gs := got[k]
		require.Len(t, gs, len(ws), k)
		for i := range ws {
			require.Equal(t, ws[i][0], gs[i][0])
			require.Equal(t, math.Float64bits(ws[i][1]), math.Float64bits(gs[i][1]), "%s #%d", k, i)
		}
	}
}
