//go:build !unix

package block

import "time"

// processCPUTime is not available here; benchmarks omit the CPU metric.
func processCPUTime() (time.Duration, bool) { return 0, false }
