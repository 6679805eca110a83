//go:build !unix

package pipeline

import "testing"

// cpuNanos is 0 where getrusage is missing: cpu-ns/sample reads 0.
func cpuNanos(*testing.B) int64 { return 0 }
