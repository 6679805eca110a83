package shard

import (
	"fmt"
	"unsafe"
)

// Open chunk buffers.
//
// Each series' open chunk is written into a buffer from chunkArena: blocks
// in size classes, carved from mapped pages outside the Go heap (offheap.go),
// with a free list per class. A series keeps its block across chunk cuts
// (the next chunk is written into the same bytes) and gives it back when it
// is removed; a chunk that outgrows its block moves to a block of a larger
// class (appendOpen). The classes step by 16 bytes up to 128, then by a
// quarter of a power of two, so a block wastes at most 15 bytes below 128
// (most open chunks end at 48-80 bytes: Options.OpenChunkBytes), where
// the Go allocator's append doubled 64 to 128.
type chunkArena struct {
	classes [numChunkClasses]chunkClass
	pages   [][]byte         // every page mapped for the classes
	big     map[*byte][]byte // blocks above the largest class, one mapping each
	mapped  int64            // bytes of pages and big blocks
}

// chunkClass is one size class: its free blocks and the unused rest of the
// class's newest page. The free list is a Go slice rather than links
// threaded through the free blocks: a pointer stored into mapped memory
// over stale chunk bytes would hand those bytes to the GC's write barrier
// as the old pointer value.
type chunkClass struct {
	free []*byte
	rest []byte
}

const (
	// chunkPageBytes is the size of the mappings classes carve blocks from.
	chunkPageBytes = 64 << 10
	// appendHeadroom is the spare capacity with which an Append cannot
	// grow an appender's buffer: the most one sample can need is 20 bytes
	// (up to 19 written plus the 8-byte word writeBits stores before
	// trimming; TestAppendOpen_HeadroomCoversAnyAppend), plus margin.
	appendHeadroom = 24
)

// chunkClassSizes are the block sizes, ascending; the last is the largest
// class (bigger blocks get a mapping of their own).
var chunkClassSizes = [...]int{
	16, 32, 48, 64, 80, 96, 112, 128,
	160, 192, 224, 256, 320, 384, 448, 512,
	640, 768, 896, 1024, 1280, 1536, 1792, 2048,
	2560, 3072, 3584, 4096,
}

const numChunkClasses = len(chunkClassSizes)

// chunkClassOf returns the smallest class that holds n bytes, or
// numChunkClasses if none does.
func chunkClassOf(n int) int {
	if n <= 128 {
		return max(n-1, 0) >> 4
	}
	for c := 8; c < numChunkClasses; c++ {
		if chunkClassSizes[c] >= n {
			return c
		}
	}
	return numChunkClasses
}

// alloc returns a block of at least n bytes (length 0, capacity the
// block's size). Its bytes are not zeroed: an appender's Reset or
// RestoreState writes before it reads.
func (a *chunkArena) alloc(n int) []byte {
	c := chunkClassOf(n)
	if c == numChunkClasses {
		b := mapAnon(mapBytes(n))
		if a.big == nil {
			a.big = map[*byte][]byte{}
		}
		a.big[unsafe.SliceData(b)] = b
		a.mapped += int64(len(b))
		return b[:0]
	}
	size := chunkClassSizes[c]
	cl := &a.classes[c]
	if k := len(cl.free); k > 0 {
		p := cl.free[k-1]
		cl.free = cl.free[:k-1]
		return unsafe.Slice(p, size)[:0]
	}
	if len(cl.rest) < size {
		pg := mapAnon(chunkPageBytes)
		a.pages = append(a.pages, pg)
		a.mapped += chunkPageBytes
		cl.rest = pg[:chunkPageBytes-chunkPageBytes%size]
	}
	b := cl.rest[:0:size]
	cl.rest = cl.rest[size:]
	return b
}

// free gives back a block from alloc (any length; its capacity names its
// class).
func (a *chunkArena) free(b []byte) {
	n := cap(b)
	if n == 0 {
		return
	}
	p := unsafe.SliceData(b[:n])
	if c := chunkClassOf(n); c < numChunkClasses {
		if chunkClassSizes[c] != n {
			panic(fmt.Sprintf("BUG: shard: free an open chunk buffer of %d bytes: not a class size", n))
		}
		a.classes[c].free = append(a.classes[c].free, p)
		return
	}
	m, ok := a.big[p]
	if !ok {
		panic(fmt.Sprintf("BUG: shard: free an open chunk buffer of %d bytes that is not the arena's", n))
	}
	delete(a.big, p)
	a.mapped -= int64(len(m))
	unmapAnon(m)
}

// release unmaps every page: no block may be used afterwards.
func (a *chunkArena) release() {
	for _, pg := range a.pages {
		unmapAnon(pg)
	}
	for _, m := range a.big {
		unmapAnon(m)
	}
	*a = chunkArena{}
}

// appendOpen appends a sample to ms's open chunk (the caller has cut or
// reset it as needed). With appendHeadroom bytes to spare the appender
// writes in place; otherwise it appends through a copy on the stack,
// where a buffer that append allocates on the Go heap is seen by the GC,
// and the chunk then moves into a larger block, so that the series in its
// slab never references the Go heap (offheap.go).
func (h *head) appendOpen(ms *memSeries, t int64, v float64) {
	if b := ms.app.Bytes(); cap(b)-len(b) >= appendHeadroom {
		ms.app.Append(t, v)
		return
	}
	a := ms.app
	old := a.Bytes()
	a.Append(t, v)
	if cap(a.Bytes()) != cap(old) { // append reallocated: a Go heap buffer
		nb := h.chunks.alloc(grownChunkBytes(cap(old), len(a.Bytes())))
		if err := a.RestoreState(nb, a.Chunk(), a.State()); err != nil {
			panic(fmt.Sprintf("BUG: shard: move an open chunk: %v", err))
		}
		h.chunks.free(old)
		h.openBytes += int64(cap(nb) - cap(old))
	}
	ms.app = a
}

// grownChunkBytes is the block size asked for an open chunk of n bytes
// that outgrew a block of c bytes: twice the block, like append, so a
// chunk moves a few times in its life (16, 32, 64: a 48-byte chunk stays in
// 64 bytes, as it did with append), and at least the chunk plus the 8-byte
// word writeBits stores.
func grownChunkBytes(c, n int) int { return max(2*c, n+8) }

// openBuf returns a block for an open chunk of n bytes restored from disk
// (RestoreState and Resume copy the chunk into it).
func (h *head) openBuf(n int) []byte { return h.chunks.alloc(grownChunkBytes(0, n)) }
