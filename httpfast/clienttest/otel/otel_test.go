// Package otel tests the server with the OpenTelemetry Go SDK's OTLP/HTTP
// metric exporter (a real client, in its own module so the main module
// does not depend on it). Run: cd httpfast/clienttest/otel && go test ./...
package otel

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/httpfasttest"
	"github.com/silverback-tsdb/tsdb/pipeline"
)

func TestOTelSDK_ExportAndReadBack(t *testing.T) {
	db, err := pipeline.Open(t.TempDir(), pipeline.Options{Shards: 2, HeadGCInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) }) // after the server's shutdown
	s, err := httpfast.New(httpfast.Options{})
	require.NoError(t, err)
	s.SetStorage(db)
	hostPort := httpfasttest.Serve(t, s)

	ctx := context.Background()
	exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(hostPort), otlpmetrichttp.WithInsecure(),
		otlpmetrichttp.WithURLPath("/opentelemetry/v1/metrics"), otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
	require.NoError(t, err)
	res := resource.NewSchemaless(
		attribute.String("service.name", "checkout"), attribute.String("service.namespace", "shop"),
		attribute.String("service.instance.id", "pod-1"), attribute.String("host.name", "node-7"))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))))
	m := mp.Meter("test")
	reqs, err := m.Int64Counter("http.server.requests", metric.WithUnit("{request}"))
	require.NoError(t, err)
	dur, err := m.Float64Histogram("http.server.duration", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(0.1, 1))
	require.NoError(t, err)
	mem, err := m.Int64UpDownCounter("process.memory.usage", metric.WithUnit("By"))
	require.NoError(t, err)
	get := metric.WithAttributes(attribute.String("http.method", "GET"))
	reqs.Add(ctx, 3, get)
	dur.Record(ctx, 0.05, get)
	dur.Record(ctx, 0.5, get)
	dur.Record(ctx, 2, get)
	mem.Add(ctx, 4096)
	require.NoError(t, mp.ForceFlush(ctx))
	reqs.Add(ctx, 2, get)
	require.NoError(t, mp.ForceFlush(ctx))
	require.NoError(t, mp.Shutdown(ctx))

	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	ss, err := q.Select(ctx, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	require.NoError(t, err)
	last := map[string]float64{}
	counts := map[string]int{}
	var it *pipeline.SampleIterator
	for ss.Next() {
		k := ss.At().Labels().String()
		it = ss.At().Iterator(it)
		for it.Next() {
			_, v := it.At()
			last[k] = v
			counts[k]++
		}
	}
	const rl = `instance="pod-1", job="shop/checkout"`
	want := map[string]float64{
		`{__name__="http_server_requests_total", http_method="GET", ` + rl + `}`:                     5,
		`{__name__="http_server_duration_seconds_bucket", http_method="GET", ` + rl + `, le="0.1"}`:  1,
		`{__name__="http_server_duration_seconds_bucket", http_method="GET", ` + rl + `, le="1"}`:    2,
		`{__name__="http_server_duration_seconds_bucket", http_method="GET", ` + rl + `, le="+Inf"}`: 3,
		`{__name__="http_server_duration_seconds_count", http_method="GET", ` + rl + `}`:             3,
		`{__name__="http_server_duration_seconds_sum", http_method="GET", ` + rl + `}`:               2.55,
		`{__name__="process_memory_usage_bytes", ` + rl + `}`:                                        4096,
	}
	for k, v := range want {
		require.Contains(t, last, k, "have %v", keys(last))
		require.InDelta(t, v, last[k], 1e-9, k)
	}
	// Two flushes and the shutdown's export; the last may share the
	// second's millisecond and then be a harmless duplicate.
	require.GreaterOrEqual(t, counts[`{__name__="http_server_requests_total", http_method="GET", `+rl+`}`], 2)
	found := false
	for k := range last {
		if strings.HasPrefix(k, `{__name__="target_info"`) && strings.Contains(k, `host_name="node-7"`) {
			found = true
		}
	}
	require.True(t, found, "target_info with the other resource attributes: %v", keys(last))
}

func keys(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
