//go:build unix

package block

import (
	"syscall"
	"time"
)

// processCPUTime returns the user+system CPU time of the process so far.
// Benchmarks report samples per CPU-second next to samples per wall-second
// because the development machine is shared: waiting for a core inflates
// wall time but not CPU time.
func processCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
