package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestProcess_Grows: a busy loop's CPU time shows in Process.
func TestProcess_Grows(t *testing.T) {
	t0, ok := Process()
	if !ok {
		t.Skip("no process CPU time on " + runtime.GOOS)
	}
	x := 0
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		x++
	}
	t1, _ := Process()
	if t1 <= t0 {
		t.Fatalf("CPU time did not grow over a 50 ms busy loop (%d iterations): %v then %v", x, t0, t1)
	}
}
