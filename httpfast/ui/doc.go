// Package ui serves Silverback's web UI: a query page (PromQL editor with
// autocomplete, graph and table), an explorer of series, labels and
// cardinality, and a status page, written as plain JavaScript modules and
// CSS embedded in the binary (assets/, go:embed). There is no build step:
// the files under assets/ are what the browser runs.
//
// The UI talks to the server only through the public HTTP API (the
// Prometheus-compatible /api/v1/* endpoints Grafana uses, and /metrics), so
// it needs nothing from the database that a remote client could not get;
// its pages and assets are registered on an httpfast.Server as ordinary
// routes, so basic auth (--web.config.file) covers them like any other
// non-public route, and the browser's cached credentials cover the API
// calls the pages make.
//
// Caching: assets are served under /ui/static/<hash>/, where <hash> is a
// digest of all embedded files, with "Cache-Control: immutable" for a
// year; the HTML pages embed that prefix and are served with "no-cache"
// and an ETag, so a new binary is picked up on the next page load. Every
// file is gzipped once, at its first request that accepts gzip (not at
// Register: that was a quarter of a server start's CPU), and served
// compressed to clients that accept gzip.
//
// Register is called once before the server serves; the handlers it
// registers hold only immutable data and are safe for concurrent use.
package ui
