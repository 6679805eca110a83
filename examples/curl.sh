#!/usr/bin/env bash
# A walkthrough of Silverback's HTTP API with curl: ingest in five
# protocols, then query, query_range, series, labels and export.
# Run against a server:   TSDB_ADDR=localhost:8080 bash examples/curl.sh
# Run by deploy/deploy_test.go (TestExamples) against a test server.
set -euo pipefail
A="http://${TSDB_ADDR:-localhost:8080}"
now=$(date +%s)
step() { printf '\n== %s\n' "$*"; }

step "Influx line protocol (POST /write)"
curl -fsS -XPOST "$A/write?precision=s" --data-binary "curl_weather,city=oslo temperature=3.5 $now"

step "Prometheus text exposition (POST /api/v1/import/prometheus)"
curl -fsS -XPOST "$A/api/v1/import/prometheus?extra_label=job=curl" \
  --data-binary $'# TYPE curl_temp gauge\ncurl_temp{room="lab"} 21.5\n'

step "JSON remote write (POST /api/v1/write, application/json)"
curl -fsS -XPOST "$A/api/v1/write" -H 'Content-Type: application/json' --data-binary \
  "{\"timeseries\":[{\"labels\":[{\"name\":\"__name__\",\"value\":\"curl_up\"},{\"name\":\"job\",\"value\":\"curl\"}],\"samples\":[{\"timestamp\":${now}000,\"value\":1}]}]}"

step "CSV (POST /api/v1/import/csv)"
curl -fsS -XPOST "$A/api/v1/import/csv?format=1:label:ticker,2:metric:curl_ask,3:time:unix_s" \
  --data-binary "GOOG,1.23,$now"

step "OTLP/HTTP JSON (POST /opentelemetry/v1/metrics)"
curl -fsS -XPOST "$A/opentelemetry/v1/metrics" -H 'Content-Type: application/json' --data-binary \
  "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"curl\"}}]},\"scopeMetrics\":[{\"metrics\":[{\"name\":\"curl.queue.size\",\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"${now}000000000\",\"asInt\":\"7\"}]}}]}]}]}"

step "Instant query (GET /api/v1/query)"
curl -fsS "$A/api/v1/query" --data-urlencode 'query={__name__=~"curl_.*"}' --data-urlencode "time=$now" -G

step "Range query (GET /api/v1/query_range)"
curl -fsS "$A/api/v1/query_range" -G --data-urlencode 'query=curl_temp' \
  --data-urlencode "start=$((now - 300))" --data-urlencode "end=$((now + 60))" --data-urlencode 'step=15s'

step "Series and label values"
curl -fsS "$A/api/v1/series" -G --data-urlencode 'match[]={job="curl"}'
curl -fsS "$A/api/v1/label/job/values"

step "Export as JSON lines (what 'tsdb import' reads back)"
curl -fsS "$A/api/v1/export" -G --data-urlencode 'match[]={__name__=~"curl_.*"}'

step "Build and readiness"
curl -fsS "$A/api/v1/status/buildinfo"
curl -fsS "$A/-/ready"
echo
