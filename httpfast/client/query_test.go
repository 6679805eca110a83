package client_test

import (
	"context"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/client"
)

const queryFixture = `up{instance="a",job="node"} 1 1700000000000
up{instance="b",job="node"} 0 1700000000000
up{instance="a",job="node"} 1 1700000060000
up{instance="b",job="node"} 1 1700000060000
`

func TestClient_QueryWithEngine(t *testing.T) {
	ts := newTestServer(t, httpfast.Options{})
	ctx := context.Background()
	c := newClient(t, ts.addr, client.Options{})
	require.NoError(t, c.Write(ctx, client.FormatProm, []byte(queryFixture), client.WriteOptions{}))

	res, err := c.Query(ctx, `up{instance="b"}`, time.UnixMilli(1700000030000), client.QueryOptions{})
	require.NoError(t, err)
	require.Equal(t, client.TypeVector, res.Type)
	require.Equal(t, []client.VectorSample{{Metric: map[string]string{"__name__": "up", "instance": "b", "job": "node"}, Point: client.Point{T: 1700000030000, V: 0}}}, res.Vector)

	res, err = c.QueryRange(ctx, "up", time.UnixMilli(1700000000000), time.UnixMilli(1700000060000), 30*time.Second, client.QueryOptions{})
	require.NoError(t, err)
	require.Equal(t, client.TypeMatrix, res.Type)
	require.Len(t, res.Matrix, 2)
	require.Equal(t, []client.Point{{T: 1700000000000, V: 0}, {T: 1700000030000, V: 0}, {T: 1700000060000, V: 1}}, res.Matrix[1].Points)

	res, err = c.Query(ctx, `42`, time.UnixMilli(1700000000000), client.QueryOptions{})
	require.NoError(t, err)
	require.Equal(t, client.Result{Type: client.TypeScalar, Scalar: client.Point{T: 1700000000000, V: 42}}, *res)

	_, err = c.Query(ctx, `up{`, time.Time{}, client.QueryOptions{})
	var ae *client.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 400, ae.StatusCode)
	require.Equal(t, "bad_data", ae.Type)
	require.Contains(t, ae.Message, `invalid parameter "query": 1:4: parse error`)
}

// TestClientGolang_API drives the server with client_golang's Prometheus
// API client (what Grafana-like Go tools use).
func TestClientGolang_API(t *testing.T) {
	ts := newTestServer(t, httpfast.Options{})
	ctx := context.Background()
	require.NoError(t, newClient(t, ts.addr, client.Options{}).Write(ctx, client.FormatProm, []byte(queryFixture), client.WriteOptions{}))
	pc, err := promapi.NewClient(promapi.Config{Address: ts.addr})
	require.NoError(t, err)
	api := promv1.NewAPI(pc)

	v, warn, _, err := api.Query(ctx, "up", time.UnixMilli(1700000030000))
	require.NoError(t, err)
	require.Empty(t, warn)
	vec, ok := v.(model.Vector)
	require.True(t, ok, "%T", v)
	require.Len(t, vec, 2)
	require.Equal(t, model.LabelValue("a"), vec[0].Metric["instance"])
	require.Equal(t, model.Time(1700000030000), vec[0].Timestamp)

	v, _, _, err = api.QueryRange(ctx, `up{instance="a"}`, promv1.Range{Start: time.UnixMilli(1700000000000), End: time.UnixMilli(1700000060000), Step: time.Minute})
	require.NoError(t, err)
	m, ok := v.(model.Matrix)
	require.True(t, ok, "%T", v)
	require.Len(t, m, 1)
	require.Equal(t, []model.SamplePair{{Timestamp: 1700000000000, Value: 1}, {Timestamp: 1700000060000, Value: 1}}, m[0].Values)

	series, _, _, err := api.Series(ctx, []string{"up"}, time.UnixMilli(1699999999000), time.UnixMilli(1700000070000))
	require.NoError(t, err)
	require.Len(t, series, 2)
	names, _, _, err := api.LabelNames(ctx, nil, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Equal(t, model.LabelNames{"__name__", "instance", "job"}, names)
	vals, _, _, err := api.LabelValues(ctx, "instance", []string{"up"}, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Equal(t, model.LabelValues{"a", "b"}, vals)
	bi, err := api.Buildinfo(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, bi.GoVersion)
	st, err := api.TSDB(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, st.HeadStats.NumSeries)
	_, err = api.Flags(ctx)
	require.NoError(t, err)
	_, err = api.Runtimeinfo(ctx)
	require.NoError(t, err)
	_, err = api.Metadata(ctx, "", "")
	require.NoError(t, err)
	_, err = api.Rules(ctx, nil)
	require.NoError(t, err)
	_, err = api.Alerts(ctx)
	require.NoError(t, err)
	_, err = api.Targets(ctx)
	require.NoError(t, err)

	_, _, _, err = api.Query(ctx, "up{", time.Time{})
	var pe *promv1.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, promv1.ErrBadData, pe.Type)
}
