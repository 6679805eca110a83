package shard

// Off-heap head memory.
//
// The head's large structures (the series slabs, the open chunks' buffers
// and the hash → ref table) live in anonymous memory mappings outside the
// Go heap (mapAnon). Two things follow, both measured with
// BenchmarkHeadMemory (PERFORMANCE.md "Head memory"):
//
//   - the GC's heap goal (live heap × (1 + GOGC/100)) no longer grows with
//     the head, so the headroom above the steady resident set is a fraction
//     of the small Go heap instead of a fraction of the whole head;
//   - the GC neither marks nor scans the head: the slabs held a pointer per
//     series (the open chunk's buffer) and each buffer was an object.
//
// The invariant that makes this safe: memory from mapAnon never holds a
// pointer into the Go heap, since the GC does not scan it and would free
// what only it references. It holds pointers into mapped memory (a series'
// open chunk buffer) and plain data. Hence the open chunk's appender is
// never allowed to grow its buffer by append while it sits in a slab (see
// appendOpen), and appenders restored from disk are given a mapped buffer
// to copy into.
//
// Mapped memory is released explicitly (head.release), when the shard
// shuts down or drops a head; nothing may use a series pointer, a slab or
// an open chunk's bytes afterwards (readers get copies of open chunks, and
// per-message scratch that holds series pointers is cleared). An
// anonymous mapping that fails is out of memory: it panics, as the Go
// allocator would throw.

import (
	"fmt"
	"unsafe"
)

// pageBytes is the granularity of anonymous mappings.
const pageBytes = 4096

// mapBytes rounds n up to whole pages.
func mapBytes(n int) int { return (n + pageBytes - 1) &^ (pageBytes - 1) }

// mapAnon returns n zeroed bytes (n a multiple of pageBytes) outside the Go
// heap. Release them with unmapAnon, passing the same slice.
func mapAnon(n int) []byte {
	if n <= 0 || n%pageBytes != 0 {
		panic(fmt.Sprintf("BUG: shard: mapAnon of %d bytes", n))
	}
	b, err := mapAnonOS(n)
	if err != nil {
		panic(fmt.Sprintf("shard: out of memory: map %d bytes for the head: %v", n, err))
	}
	return b
}

// unmapAnon releases a mapping from mapAnon. b must be the slice mapAnon
// returned (same start and capacity).
func unmapAnon(b []byte) {
	if len(b) == 0 {
		return
	}
	b = b[:cap(b)]
	if err := unmapAnonOS(b); err != nil {
		panic(fmt.Sprintf("BUG: shard: unmap %d head bytes: %v", len(b), err))
	}
}

// mappedAs returns the mapping b as a slice of n values of T. T's
// alignment must divide pageBytes (mappings start on a page).
func mappedAs[T any](b []byte, n int) []T {
	var zero T
	if uintptr(len(b)) < uintptr(n)*unsafe.Sizeof(zero) {
		panic(fmt.Sprintf("BUG: shard: %d mapped bytes for %d values of %d bytes", len(b), n, unsafe.Sizeof(zero)))
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// bytesOf returns the memory of s (a slice from mappedAs, full length) as
// the byte slice that mapped it, for unmapAnon.
func bytesOf[T any](s []T, mapped int) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), mapped)
}
