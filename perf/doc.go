// Package perf holds the end-to-end benchmark scenarios that produce
// PERFORMANCE.md, side by side with peer databases where they are installed.
//
// It has no code yet: the perf suite comes after the HTTP server.
package perf
