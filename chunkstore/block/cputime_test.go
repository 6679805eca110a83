package block

import (
	"time"

	"github.com/silverback-tsdb/tsdb/internal/cputime"
)

// processCPUTime is the process's user+system CPU time (cputime.Process):
// benchmarks report work per CPU-second beside work per wall-second.
func processCPUTime() (time.Duration, bool) { return cputime.Process() }
