// Package httpfast is the fasthttp server: ingest protocols, the
// Prometheus-compatible query API, admin, health, /metrics and pprof.
//
// It has no code yet: the HTTP server comes after the PromQL engine.
package httpfast
