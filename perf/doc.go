// Package perf holds the end-to-end benchmark scenarios that produce
// PERFORMANCE.md (`tsdb perf`: Run, one function per scenario in its own
// file, each doc comment the exact method), side by side with peer
// databases where they are installed: every VictoriaMetrics version found
// (victoriametrics-X.Y), Prometheus (with promtool for offline backfill of
// blocks) and InfluxDB 1.x. TestQuick runs every scenario in quick mode
// without peers (CI). The other tests are measurements, not checks: each
// runs only when asked (TSDB_PERF=1) and skips when a peer is absent; none
// is a CI dependency.
//
//   - TestPeerIngestCPU: server CPU-seconds per million samples of HTTP
//     ingest (Influx line protocol, remote write 1.0) into 50,700 existing
//     series, Silverback's cmd/tsdb against Debian's victoria-metrics, same
//     client, same pre-encoded payloads, same run.
package perf
