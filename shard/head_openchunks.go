package shard

import (
	"fmt"
	"math"
	"math/bits"
	"unsafe"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// Open chunk buffers.
//
// Each series' open chunk is written into a buffer from chunkArena: blocks
// in size classes, carved from mapped pages outside the Go heap (offheap.go),
// with a free list per class. A chunk starts in the smallest block
// (openFirstBlockBytes), moves to the smallest class that holds it before
// a sample that may not fit (appendOpen), and gives its block back when it
// is cut (its successor starts small again) or its series is removed. The
// classes step by 16 bytes up to 128, then by a quarter of a power of two,
// so a block holds its chunk plus 8-23 bytes below 128 (open chunks close
// at 48-64 bytes: Options.OpenChunkBytes). Blocks that doubled like
// append's and were kept across cuts held 68-70 B per series of
// BenchmarkHeadMemory from the 25th scrape on; these hold 36-57 B over the
// chunk cycle (TestAppendOpen_NodeScrapesOpenBytes), for about one move
// per 10 samples, which costs no more CPU than the head chunk writes it
// came with saved (headChunks.pend; BenchmarkAppendOpen).
//
// Free blocks of a class are reused only by that class, and chunks grow
// through the small classes together (after a start or a wave of cuts,
// every series moves 16 → 32 → 48 in the same scrapes), so a class can be
// left mostly free. A class whose free bytes pass its live bytes (and
// compactMinBytes) is compacted after the message that freed them
// (head.compactChunks): its live blocks are copied into fresh pages and its
// old pages unmapped. The transient is the class's live bytes, which are
// then at most its free bytes.
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
	// openFirstBlockBytes is the block a chunk starts in. The first
	// sample of a chunk writes at most 77 bits (a value XORed against 0:
	// the 13-bit window header and 64 bits) with 8 bytes of word stores at
	// a length of at most 2, so it always fits without a move.
	openFirstBlockBytes = 16
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
// its live blocks are copied into fresh pages and its old pages unmapped.
// One pass over the series (O(series)) finds the live blocks of every
// class being compacted; a class with no live block (chunks grow through
// the small classes together, so after a wave of moves or cuts a class is
// often empty) needs none. Run on the shard goroutine between messages;
// series pointers stay valid, open chunk bytes move.
func (h *head) compactChunks() {
	a := &h.chunks
	a.compactDue = false
	var old [numChunkClasses][][]byte
	var moving [numChunkClasses]bool
	scan, due := false, false
	for c := range a.classes {
		cl := &a.classes[c]
		size := chunkClassSizes[c]
		if free := len(cl.free) * size; free == 0 || free < max(a.compactMin(), cl.live*size) {
			continue
		}
		old[c] = cl.pages
		moving[c] = cl.live > 0
		scan = scan || moving[c]
		due = true
		*cl = chunkClass{}
	}
	if !due {
		return
	}
	for ref := uint32(1); scan && ref < h.nrefs; ref++ {
		ms := h.get(ref)
		if ms == nil {
			continue
		}
		n := cap(ms.app.Bytes())
		if c := chunkClassOf(n); n == 0 || c == numChunkClasses || !moving[c] {
			continue
		}
		// Mapped to mapped: the appender may be moved in its slab.
		if err := ms.app.RestoreState(a.alloc(n), ms.app.Chunk(), ms.app.State()); err != nil {
			panic(fmt.Sprintf("BUG: shard: move an open chunk: %v", err))
		}
	}
	for c := range old {
		if old[c] == nil {
			continue
		}
		for _, pg := range old[c] {
			unmapAnon(pg)
			a.mapped -= chunkPageBytes
		}
		a.compactions++
	}
}

// appendOpen appends a sample to ms's open chunk (the caller has cut or
// reset it as needed). A chunk starts in the smallest block
// (openFirstBlockBytes, which holds any first sample): after a cut the
// series gives back the block its last chunk grew to. Before a sample that may not fit the spare capacity
// (appendNeedBytes, an upper bound from the format's bit layout), the
// chunk moves into the smallest block with that much to spare, so the
// appender writes in place and never grows its buffer by append: that
// would allocate on the Go heap (garbage, and a Go pointer in the series'
// slab, which the GC does not scan; offheap.go). Moving only when the
// sample needs it keeps a block at its chunk plus 8-23 bytes.
func (h *head) appendOpen(ms *memSeries, t int64, v float64) {
	b := ms.app.Bytes()
	if spare := cap(b) - len(b); spare < appendHeadroom || ms.app.NumSamples() == 0 {
		switch {
		case ms.app.NumSamples() == 0:
			// A new chunk: its first sample always fits the smallest
			// block (openFirstBlockBytes).
			if cap(b) != openFirstBlockBytes {
				nb := h.chunks.alloc(openFirstBlockBytes)
				ms.app.Reset(nb)
				h.chunks.free(b)
				h.openBytes += int64(cap(nb) - cap(b))
			}
		case spare < appendNeedBytes(&ms.app, t, v):
			nb := h.chunks.alloc(len(b) + appendNeedBytes(&ms.app, t, v))
			if err := ms.app.RestoreState(nb, ms.app.Chunk(), ms.app.State()); err != nil {
				panic(fmt.Sprintf("BUG: shard: move an open chunk: %v", err))
			}
			h.chunks.free(b)
			h.openBytes += int64(cap(nb) - cap(b))
		}
		b = ms.app.Bytes()
	}
	ms.app.Append(t, v)
	if nb := ms.app.Bytes(); cap(nb) != cap(b) {
		// NB: appendNeedBytes fell short (TestAppendNeedBytes_CoversAnyAppend
		// pins it to the encoder): the appender grew its buffer on the Go
		// heap. Move it into the arena at once so the slab keeps no Go
		// pointer.
		mb := h.chunks.alloc(grownChunkBytes(len(nb)))
		if err := ms.app.RestoreState(mb, ms.app.Chunk(), ms.app.State()); err != nil {
			panic(fmt.Sprintf("BUG: shard: move an open chunk: %v", err))
		}
		h.chunks.free(b)
		h.openBytes += int64(cap(mb) - cap(b))
	}
}

// appendNeedBytes returns an upper bound of the spare capacity (beyond
// len(a.Bytes())) with which appending (t, v) to a does not grow its
// buffer: the sample's bits under the EncXOR layout
// (docs/format/chunks.md: the dod in its smallest bucket, the value as a
// new window or a reuse of the current one, whichever the encoder picks)
// in whole bytes, plus the 8 bytes the Appender's contract asks beyond the
// final payload. A few ns; appendOpen calls it only when less than
// appendHeadroom is spare.
func appendNeedBytes(a *chunkstore.Appender, t int64, v float64) int {
	st := a.State()
	x := math.Float64bits(v) ^ st.V
	n := 0 // bits
	switch k := a.NumSamples(); {
	case k >= 2:
		switch dod := t - a.MaxTime() - st.TDelta; {
		case st.Jittery:
			n = int(dodCodeBits[bits.Len64(uint64(dod<<1)^uint64(dod>>63))])
		case dod == 0:
			n = 1 // steady '0'
		default:
			n = 1 + int(dodCodeBits[bits.Len64(uint64(dod<<1)^uint64(dod>>63))]) // steady '1' and a code
		}
	case k == 1:
		d := t - a.MaxTime()
		n = 8 * ((bits.Len64(uint64(d<<1)^uint64(d>>63)|1) + 6) / 7) // the zigzag varint's bytes
	default:
		x = math.Float64bits(v) // against 0, no window
		st.Leading = noXORWindow
	}
	if x == 0 {
		n++ // '0'
	} else {
		// A new window: '11', 5 + 6 bits and the significant bits (the
		// leading count capped at 31); or, when the current window holds
		// x, its reuse ('10' and the window's bits), whichever is longer.
		lead, trail := min(bits.LeadingZeros64(x), 31), bits.TrailingZeros64(x)
		w := 13 + 64 - lead - trail
		if st.Leading != noXORWindow && lead >= int(st.Leading) && trail >= int(st.Trailing) {
			w = max(w, 2+64-int(st.Leading)-int(st.Trailing))
		}
		n += w
	}
	return (n+7)>>3 + 8
}

// noXORWindow is AppenderState.Leading before a chunk has a window.
const noXORWindow = 0xff

// dodCodeBits is the size of a dod's code B (docs/format/chunks.md) by the
// significant bits of its zigzag form: the smallest bucket holding it,
// prefix and field of 1+4, 2+6, 3+9, 4+14, 5+32 or 5+64 bits (a field of
// w bits holds a zigzag form of up to w bits).
var dodCodeBits = func() (t [65]uint8) {
	for k := range t {
		switch {
		case k <= 4:
			t[k] = 1 + 4
		case k <= 6:
			t[k] = 2 + 6
		case k <= 9:
			t[k] = 3 + 9
		case k <= 14:
			t[k] = 4 + 14
		case k <= 32:
			t[k] = 5 + 32
		default:
			t[k] = 5 + 64
		}
	}
	return t
}()

// grownChunkBytes is the block size asked for an open chunk of n bytes
// restored from disk or grown past its block: the chunk plus the 8 bytes
// of the Appender's contract, which the arena rounds up to its class
// (16-byte steps up to 128).
func grownChunkBytes(n int) int { return n + 8 }

// chunkClassSizeOf returns the block size the arena gives for n bytes (n
// itself above the largest class).
func chunkClassSizeOf(n int) int {
	if c := chunkClassOf(n); c < numChunkClasses {
		return chunkClassSizes[c]
	}
	return n
}

// openBuf returns a block for an open chunk of n bytes restored from disk
// (RestoreState and Resume copy the chunk into it).
func (h *head) openBuf(n int) []byte { return h.chunks.alloc(grownChunkBytes(n)) }
