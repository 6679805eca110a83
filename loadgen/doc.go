// Package loadgen owns the project's deterministic workload generators and,
// later, the bundled load generator (protocols, rate control, reporting).
//
// Today it provides the generators every benchmark in the project uses, so
// that figures from different packages describe the same data:
//
//   - NodeExporter derives H simulated hosts from one real node_exporter
//     scrape (testdata/node_exporter_scrape.txt, embedded): counters keep
//     increasing at per-host rates, gauges wander at the precision the real
//     value was printed with, constants stay constant, and scrapes are 15 s
//     apart with the few-millisecond jitter measured in a real capture.
//   - Regular produces perfectly regular series (fixed step, constant or
//     linearly growing values): the best case for any encoder.
//
// Determinism: the output depends only on the options. Each host draws from
// its own random stream seeded by (Seed, host), so adding hosts does not
// change the data of existing ones.
//
// Concurrency: a NodeExporter is owned by one goroutine (Next mutates it).
// Labels returns immutable values that are safe to share.
package loadgen
