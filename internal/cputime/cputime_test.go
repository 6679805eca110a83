package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestProcess_Grows: a busy loop's CPU time shows in Process (the loop
// runs until it does, for at most 10 s of wall time, so a starved test on a
// loaded machine still passes while a reader stuck at a constant fails).
func TestProcess_Grows(t *testing.T) {
	t0, ok := Process()
	if !ok {
		t.Skip("no process CPU time on " + runtime.GOOS)
	}
	x := 0
	for start := time.Now(); time.Since(start) < 10*time.Second; {
		for range 1_000_000 {
			x++
		}
		if t1, _ := Process(); t1 > t0 {
			return
		}
	}
	t.Fatalf("CPU time stayed at %v over 10 s of busy loop (%d iterations)", t0, x)
}
