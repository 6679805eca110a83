// Command tsdb is the Silverback binary: start, write, query, import,
// inspect, compact, loadgen and perf subcommands.
//
// It is deliberately thin: it parses flags, builds the logger and the metrics
// registry, calls pipeline.Open and handles signals. Everything with logic
// lives in a package that can be tested without a process.
//
// The server does not exist yet (see README.md); main reports that honestly.
package main
