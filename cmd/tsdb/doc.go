// Command tsdb is the Silverback binary.
//
//	tsdb start             the server: every ingest protocol, the Prometheus query API, remote read, export, admin, UI, /metrics, pprof
//	tsdb write             write samples to a running server (arguments or stdin)
//	tsdb query             evaluate PromQL on a running server (-o table|json|csv)
//	tsdb import            send a file to a running server in batches, with progress
//	tsdb export            stream the samples of matching series out of a running server
//	tsdb inspect DIR       block table per shard; --verify checks every checksum
//	tsdb compact           head cut, compaction and retention on a stopped database
//	tsdb snapshot          hard-linked copy of a stopped database, usable as a data directory
//	tsdb delete            tombstones for the series matching selectors in a time range
//	tsdb clean-tombstones  rewrite blocks without their deleted data
//	tsdb loadgen           send a deterministic workload to a server or an in-process database
//
// The server itself is package httpfast; start wires it: flags (with
// TSDB_* environment fallbacks and an optional YAML --config.file, see
// config.go), the logger (json, logfmt or console), the registry, the
// database, the PromQL engine (queryexec) and the self-scrape. write,
// query, import and export (remote.go, remote_query.go) are thin layers over
// package httpfast/client.
//
// The command is deliberately thin: main builds the cobra tree; each
// command parses its flags, builds the zap logger and calls a run function
// (runStart, runInspect, runCompact, runSnapshot, runDelete,
// runCleanTombstones) that takes an io.Writer for its output and returns an
// error, so every command is tested in-process. Exit status (exitCode):
// 0 success; 2 a usage error (bad flag or argument); 3 the server refused
// the request (4xx); 4 the server is unreachable, overloaded or failing;
// 1 anything else (for inspect, also a block that fails to open or verify).
//
// runStart starts the HTTP servers' goroutines, the self-scrape and the
// signal watcher; all are waited for before it (or the command) returns. Operations are
// described in docs/OPERATIONS.md.
package main
