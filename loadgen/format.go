package loadgen

import "google.golang.org/protobuf/encoding/protowire"

// Wire constants of the protocols loadgen encodes, in one place so a
// reviewer can check them against the public schemas in one screen (and so
// they can later move to one package shared with the decoders in httpfast).
//
// Sources: prometheus/prometheus prompb/remote.proto and prompb/types.proto
// (remote write 1.0), prompb/io/prometheus/write/v2/types.proto (remote
// write 2.0, v2.0-rc.5), open-telemetry/opentelemetry-proto
// opentelemetry/proto/{collector/metrics,metrics,common,resource}/v1
// (OTLP), and the InfluxDB 1.x line protocol reference.

// Remote write 1.0: prometheus.WriteRequest.
const (
	rw1WriteRequestTimeseries protowire.Number = 1 // repeated TimeSeries
	rw1TimeSeriesLabels       protowire.Number = 1 // repeated Label
	rw1TimeSeriesSamples      protowire.Number = 2 // repeated Sample
	rw1LabelName              protowire.Number = 1 // string
	rw1LabelValue             protowire.Number = 2 // string
	rw1SampleValue            protowire.Number = 1 // double (fixed64)
	rw1SampleTimestamp        protowire.Number = 2 // int64 (varint), ms
)

// Remote write 2.0: io.prometheus.write.v2.Request.
const (
	rw2RequestSymbols       protowire.Number = 4 // repeated string; symbols[0] == ""
	rw2RequestTimeseries    protowire.Number = 5 // repeated TimeSeries
	rw2TimeSeriesLabelsRefs protowire.Number = 1 // repeated uint32, packed
	rw2TimeSeriesSamples    protowire.Number = 2 // repeated Sample
	rw2TimeSeriesMetadata   protowire.Number = 5 // Metadata
	rw2SampleValue          protowire.Number = 1 // double (fixed64)
	rw2SampleTimestamp      protowire.Number = 2 // int64 (varint), ms
	rw2MetadataType         protowire.Number = 1 // MetricType (varint)
	rw2MetadataHelpRef      protowire.Number = 3 // uint32
)

// Remote write 2.0 Metadata.MetricType values.
const (
	rw2TypeUnspecified = 0
	rw2TypeCounter     = 1
	rw2TypeGauge       = 2
	rw2TypeHistogram   = 3
	rw2TypeSummary     = 5
)

// OTLP metrics: opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest.
const (
	otlpRequestResourceMetrics  protowire.Number = 1 // repeated ResourceMetrics
	otlpResourceMetricsResource protowire.Number = 1 // Resource
	otlpResourceMetricsScope    protowire.Number = 2 // repeated ScopeMetrics
	otlpResourceAttributes      protowire.Number = 1 // repeated KeyValue
	otlpScopeMetricsScope       protowire.Number = 1 // InstrumentationScope
	otlpScopeMetricsMetrics     protowire.Number = 2 // repeated Metric
	otlpScopeName               protowire.Number = 1 // string
	otlpMetricName              protowire.Number = 1 // string
	otlpMetricDescription       protowire.Number = 2 // string
	otlpMetricGauge             protowire.Number = 5 // Gauge
	otlpMetricSum               protowire.Number = 7 // Sum
	otlpGaugeDataPoints         protowire.Number = 1 // repeated NumberDataPoint
	otlpSumDataPoints           protowire.Number = 1 // repeated NumberDataPoint
	otlpSumTemporality          protowire.Number = 2 // AggregationTemporality (varint)
	otlpSumMonotonic            protowire.Number = 3 // bool
	otlpPointAttributes         protowire.Number = 7 // repeated KeyValue
	otlpPointStartTime          protowire.Number = 2 // fixed64, ns
	otlpPointTime               protowire.Number = 3 // fixed64, ns
	otlpPointAsDouble           protowire.Number = 4 // double
	otlpKeyValueKey             protowire.Number = 1 // string
	otlpKeyValueValue           protowire.Number = 2 // AnyValue
	otlpAnyValueString          protowire.Number = 1 // string
	otlpTemporalityCumulative                    = 2
)

// OTLP resource attributes that carry the Prometheus job and instance
// (the OpenTelemetry-to-Prometheus convention).
const (
	otlpAttrServiceName       = "service.name"
	otlpAttrServiceInstanceID = "service.instance.id"
	otlpScope                 = "silverback-loadgen"
)

// Remote write timestamps are int64 varints. Every millisecond timestamp
// in [2^35, 2^42) — 1971-02-22 to 2109-05-15 — takes exactly rwTSLen bytes,
// so payloads are pre-encoded with a 6-byte slot and re-timed in place;
// Run refuses timestamps outside that range.
const (
	rwTSLen = 6
	rwTSMin = int64(1) << 35
	rwTSMax = int64(1)<<42 - 1
)

// HTTP details per protocol.
const (
	contentTypeInflux = "text/plain; charset=utf-8"
	contentTypeRW1    = "application/x-protobuf"
	contentTypeRW2    = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
	contentTypeOTLP   = "application/x-protobuf"
	headerRWVersion   = "X-Prometheus-Remote-Write-Version"
	rw1Version        = "0.1.0"
	rw2Version        = "2.0.0"
	encodingSnappy    = "snappy"

	// Default paths when --addr names none: InfluxDB 1.x and
	// VictoriaMetrics accept /write, Prometheus and VictoriaMetrics
	// /api/v1/write, an OpenTelemetry collector /v1/metrics.
	defaultPathInflux = "/write"
	defaultPathRW     = "/api/v1/write"
	defaultPathOTLP   = "/v1/metrics"
)
