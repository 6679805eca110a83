package pipeline

import (
	"testing"
	"time"

	"github.com/silverback-tsdb/tsdb/internal/cputime"
)

// processCPUTime is the process's user+system CPU time (cputime.Process):
// benchmarks report work per CPU-second beside work per wall-second.
func processCPUTime() (time.Duration, bool) { return cputime.Process() }

// cpuNanos is processCPUTime in nanoseconds for the benchmarks'
// cpu-ns/sample; it fails the benchmark where the platform cannot tell.
func cpuNanos(b *testing.B) int64 {
	d, ok := cputime.Process()
	if !ok {
		b.Skip("no process CPU time on this platform")
	}
	return d.Nanoseconds()
}
