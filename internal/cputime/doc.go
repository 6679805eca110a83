// Package cputime reads the CPU time the process has used, for benchmarks
// and the load generator that report work per CPU-second beside work per
// wall-second (on a shared machine, waiting for a core inflates wall time
// but not CPU time). It owns no state and is safe for concurrent use.
package cputime
