// Package httpfast is the HTTP server on valyala/fasthttp: every ingest
// protocol, Prometheus 3.16's query API (api_*.go: query, query_range,
// series, labels, metadata, status, parsing), remote read, export, the
// admin API, health and readiness, /metrics, pprof, and the route table
// and middlewares they all go through.
//
// # What it owns
//
//   - Server: one route table (Handle, by path and method), middlewares
//     every route passes (self-metrics; authentication from a Prometheus
//     web config; the admin gate; for ingest routes a concurrency slot and
//     the storage-ready check), the fasthttp server and its limits.
//   - The ingest endpoints (docs/API.md): Influx line protocol v1/v2,
//     Prometheus remote write 1.0/2.0, the JSON format, text exposition /
//     OpenMetrics import, CSV import, OTLP/HTTP protobuf. Each parser runs
//     on the handler goroutine and fills a stages.Batch directly, keyed by
//     raw series keys for the route cache (the design block in ingest.go).
//   - The mapping of every outcome to an HTTP answer (status.go-like code
//     lives in ingest.go: finish, fatal, requestError): 204; 400 naming the
//     first bad lines with the good rest stored; 413/415 for the whole
//     request with nothing stored; 429 for the series limit; 503 with
//     Retry-After for overload, replay and shutdown; 500 without detail for
//     storage failures (logged).
//   - MetadataStore (type, unit, help per metric name) and the self-scrape
//     (RunSelfScrape).
//   - The query API over a QueryBackend (SetQueryBackend: the database,
//     the PromQL Engine — *queryexec.Engine — and status facts): the
//     envelope, Prometheus's parameter parsing, error types and statuses,
//     JSON appenders with Prometheus's number formatting; remote read
//     (SAMPLES, STREAMED_XOR_CHUNKS) and export streamed from the body
//     writer. docs/API.md lists every endpoint.
//
// It does not own storage or evaluation: it writes through Storage (a
// *pipeline.DB), reads through pipeline.Querier, evaluates through Engine,
// and never interprets per-sample rules itself — it maps the
// stages.RejectReason the core returns to lines.
//
// # Concurrency
//
// Server is safe for concurrent use once routes are registered (Handle
// before Serve). Each request is served on a fasthttp worker goroutine
// that owns its ingester (pooled) from get to put; nothing a request
// holds outlives it. MetadataStore and the authenticator are safe for
// concurrent use. The server starts no goroutine of its own besides
// fasthttp's and the optional self-scrape loop, which RunSelfScrape's
// caller owns.
//
// # Byte lifetimes
//
// Request bodies (fasthttp's, or the decoder's buffer for gzip/snappy)
// live only for the request. Batches alias them (Series.Key aliases the
// ingester's key arena) and are handed to Storage.Append, which keeps no
// reference. Label sets built on cache misses are fresh strings; cached
// ones are the router's immutable values.
//
// # Formats
//
// Wire formats are the protocols' own (docs/API.md cites the field
// numbers and escapes); nothing here is stored on disk.
package httpfast
