// Package difftest is a test-only module that compares the queryexec
// engine with Prometheus's own promql.Engine over the same samples, read
// through Silverback's storage, on random data and random expressions; and
// benchmarks the two side by side. It is a separate module so the main
// module never depends on the Prometheus engine.
package difftest
