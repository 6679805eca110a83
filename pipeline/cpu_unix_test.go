//go:build unix

package pipeline

import (
	"syscall"
	"testing"
)

// cpuNanos returns the process's user+system CPU time in nanoseconds (the
// benchmarks' cpu-ns/sample: independent of how loaded the cores are).
func cpuNanos(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
