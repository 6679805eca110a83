// Package loadgen owns the project's deterministic workload generators and
// the bundled load generator (`tsdb loadgen`): workloads, wire encoders,
// targets, rate control and reporting. It does not own the servers it
// drives, nor the benchmark scenarios (package perf drives Run), nor the
// in-process target (package loadgen/inprocess: loadgen cannot import
// pipeline, whose tests import loadgen).
//
// # Generators
//
// The generators every benchmark in the project uses, so that figures
// from different packages describe the same data:
//
//   - NodeExporter derives H simulated hosts from one real node_exporter
//     scrape (testdata/node_exporter_scrape.txt, embedded): counters keep
//     increasing at per-host rates, gauges wander at the precision the real
//     value was printed with, constants stay constant, and scrapes are 15 s
//     apart with the few-millisecond jitter measured in a real capture.
//     TestNodeExporter_Golden pins its output.
//   - Regular produces perfectly regular series (fixed step, constant or
//     linearly growing values): the best case for any encoder.
//
// Each host draws from its own random stream seeded by (Seed, host), so
// adding hosts does not change the data of existing ones.
//
// # Load generator
//
// Run(ctx, Config) generates a Workload and sends it, encoded for a
// Protocol, to a Target, and returns a Summary:
//
//   - Workloads: node (the NodeExporter model, host for host the same
//     data), churn (every instance replaced after ChurnEvery: new instance
//     label, counters restarting from new values; replacements spread over
//     the period), highcard (node with 1,973 hosts: 1,000,311 series),
//     backfill (node over [Start, Start+BackfillRange), unpaced), replay
//     (a Capture re-timed and repeated; see Capture for how counters keep
//     rising across repetitions).
//   - What the data looks like: label sets are the real scrape's plus
//     instance and job (empty label values dropped); values follow the
//     NodeExporter model above, so about 70 % of series never change, 17 %
//     change at every scrape, and the rest now and then; no NaN, stale
//     markers, native histograms or exemplars are generated. With
//     Config.Histograms (node, backfill, highcard) every host also sends a
//     classic histogram, http_request_duration_seconds_bucket with 10
//     handlers × 11 buckets, whose cumulative counts grow by a
//     deterministic amount per scrape. Replay sends the
//     capture's values as captured, the same for every host (each host
//     starts at another scrape of the capture).
//   - Pacing: node, churn, highcard and replay are paced by the wall
//     clock: a scrape with timestamp t is sent when the clock reaches
//     wallStart + (t − Start), never earlier, so a server that rejects
//     future samples accepts them. If the target (or Rate) cannot keep up,
//     scrapes go out late with their scheduled timestamps and the summary's
//     max_lag_seconds says by how much. Backfill is sent as fast as the
//     target takes it.
//   - Requests: a worker owns a contiguous range of hosts and sends their
//     scrapes in timestamp order; a request is sent when it holds Batch
//     samples (a host's scrape may be split over two requests) or, in a
//     paced workload, when its first sample has waited FlushInterval and
//     no scrape is due. Samples are deterministic from the Config; with a
//     paced workload the grouping into requests depends on timing.
//   - A request answered with 5xx or 429, or lost to a timeout or a
//     transport error, is sent again up to Retries times with a doubling
//     backoff (at least the answer's Retry-After); other 4xx are not
//     retried. A request that still fails is counted by class and its
//     samples are lost to the target (samples_failed).
//   - HTTPOptions.Gzip gzips influx and OTLP bodies (Content-Encoding:
//     gzip) in the target, per request, from pooled writers.
//
// # Wire formats (format.go holds the field numbers)
//
// Every encoder pre-encodes each host's series once (labels and framing,
// with fixed-width slots for timestamp and value) and per scrape copies
// them and patches the slots; see the encoder types for each format's
// layout. Remote write carries timestamps as int64 varints, which have one
// width (6 bytes) for every millisecond timestamp from 1971 to 2109, so
// they are patched in place; Run refuses others for rw1 and rw2. OTLP
// timestamps are fixed64. Line protocol values are text: each series keeps
// its formatted value and formats again only when the value changed.
// Remote write bodies are snappy-compressed per request (the generator's
// largest cost: BenchmarkSnappy); influx and OTLP bodies are sent
// uncompressed.
//
// # Concurrency
//
// A NodeExporter is owned by one goroutine (Next mutates it); Labels
// returns immutable values. Run starts Concurrency worker goroutines and
// one reporter and waits for all of them before it returns. Each worker
// owns its hosts, their generators, its encoder and its Payload; the
// workers share only the rate limiter and the counters (atomics). A Target
// is called concurrently, one request in flight per worker; a Payload's
// bytes alias the worker's buffers and are valid only during Send.
// Capture is immutable after ParseCapture.
package loadgen
