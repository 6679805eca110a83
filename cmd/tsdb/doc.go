// Command tsdb is the Silverback binary.
//
//	tsdb start             the server: every ingest protocol, /metrics, /-/healthy, /-/ready, /debug/pprof
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
// database and the self-scrape. The PromQL HTTP API is the next issue.
//
// The command is deliberately thin: main builds the cobra tree; each
// command parses its flags, builds the zap logger and calls a run function
// (runStart, runInspect, runCompact, runSnapshot, runDelete,
// runCleanTombstones) that takes an io.Writer for its output and returns an
// error, so every command is tested in-process. Any error exits with
// status 1 (for inspect, also a block that fails to open or verify).
//
// runStart starts the HTTP servers' goroutines, the self-scrape and the
// signal watcher; all are waited for before it (or the command) returns. Operations are
// described in docs/OPERATIONS.md.
package main
