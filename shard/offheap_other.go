//go:build !unix

package shard

// mapAnonOS falls back to the Go heap where there is no mmap. The bytes are
// a pointer-free allocation, so the GC does not scan them; the pointers the
// head stores in them point into other such allocations, which the head
// keeps referenced until release, so nothing they reference is freed
// early. Only the heap-goal benefit of off-heap memory is lost.
func mapAnonOS(n int) ([]byte, error) { return make([]byte, n), nil }

func unmapAnonOS([]byte) error { return nil }
