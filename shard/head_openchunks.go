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
//
// Free blocks of a class are reused only by that class, and chunks grow
// through the small classes together (every series' first chunk moves 16 →
// 32 → 64 in the same scrapes), so the small classes are left mostly free:
// 43 B per series after 60 scrapes of BenchmarkHeadMemory. A class whose
// free bytes pass its live bytes (and compactMinBytes) is compacted after
// the message that freed them (head.compactChunks): its live blocks are
// copied into fresh pages and its old pages unmapped. The transient is the
// class's live bytes, which are then at most its free bytes.
type chunkArena struct {
	classes [numChunkClasses]chunkClass
	big     map[*byte][]byte // blocks above the largest class, one mapping each
	mapped  int64            // bytes of pages and big blocks
	// compactDue is set by free when a class needs compacting.
	compactDue bool
	// compactMinBytes is the free bytes below which a class is left alone
	// (chunkCompactMinBytes; tests lower it).
	compactMinBytes int
	compactions     int // classes compacted (tests)
}

// chunkClass is one size class: its free blocks and the unused rest of the
// class's newest page. The free list is a Go slice rather than links
// threaded through the free blocks: a pointer stored into mapped memory
// over stale chunk bytes would hand those bytes to the GC's write barrier
// as the old pointer value.
type chunkClass struct {
	free  []*byte
	rest  []byte
	pages [][]byte // the class's mappings
	live  int      // blocks handed out and not freed
}

// chunkCompactMinBytes: free bytes of a class that may wait (a page's
// worth of churn is not worth an O(series) pass).
const chunkCompactMinBytes = 1 << 20

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
	cl.live++
	if k := len(cl.free); k > 0 {
		p := cl.free[k-1]
		cl.free = cl.free[:k-1]
		return unsafe.Slice(p, size)[:0]
	}
	if len(cl.rest) < size {
		pg := mapAnon(chunkPageBytes)
		cl.pages = append(cl.pages, pg)
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
		cl := &a.classes[c]
		cl.free = append(cl.free, p)
		cl.live--
		if free := len(cl.free) * n; free >= max(a.compactMin(), cl.live*n) {
			a.compactDue = true
		}
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
	for i := range a.classes {
		for _, pg := range a.classes[i].pages {
			unmapAnon(pg)
		}
	}
	for _, m := range a.big {
		unmapAnon(m)
	}
	*a = chunkArena{}
}

func (a *chunkArena) compactMin() int {
	if a.compactMinBytes > 0 {
		return a.compactMinBytes
	}
	return chunkCompactMinBytes
}

// compactChunks compacts every class of the chunk arena that free marked:
// its live blocks are copied into fresh pages (O(series) to find their
// series) and its old pages unmapped. Run on the shard goroutine between
// messages; series pointers stay valid, open chunk bytes move.
func (h *head) compactChunks() {
	a := &h.chunks
	a.compactDue = false
	for c := range a.classes {
		cl := &a.classes[c]
		size := chunkClassSizes[c]
		if free := len(cl.free) * size; free == 0 || free < max(a.compactMin(), cl.live*size) {
			continue
		}
		old := cl.pages
		*cl = chunkClass{}
		for ref := uint32(1); ref < h.nrefs; ref++ {
			ms := h.get(ref)
			if ms == nil || cap(ms.app.Bytes()) != size {
				continue
			}
			// Mapped to mapped: the appender may be moved in its slab.
			if err := ms.app.RestoreState(a.alloc(size), ms.app.Chunk(), ms.app.State()); err != nil {
				panic(fmt.Sprintf("BUG: shard: move an open chunk: %v", err))
			}
		}
		for _, pg := range old {
			unmapAnon(pg)
			a.mapped -= chunkPageBytes
		}
		a.compactions++
	}
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
