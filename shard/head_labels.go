package shard

import (
	"encoding/binary"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
)

// Head series labels.
//
// A series' label set is kept as the symbol ids of its names and values in
// the head's postings index (postings.Index.AddSymbols): a uvarint count of
// labels, then per label the uvarint ids of its name and value, appended to
// a per-shard arena of fixed pages. memSeries holds the 4-byte position
// (labelsRef). A node_exporter series takes ~20 bytes this way instead of
// a ~90-byte labels string of its own plus a 16-byte header (the heap
// profile of BenchmarkHeadMemory: labels were a third of the head), and the
// arena holds no pointers, so GC does not scan it.
//
// The ids stay valid while the series is in the index: each label pair in
// the index holds its name and value symbols, and the head deletes the
// series from the index (DeleteSymbols) only when it removes the series.
//
// Pages are written once and never changed in place: a removed series'
// bytes become dead, and when dead bytes outnumber live ones (and pass
// labelCompactMinBytes) compact copies the live encodings into fresh pages
// and updates every series' position. Slices of a page stay valid after a
// compaction (the old page is only dropped from the arena).
//
// Owned by the shard goroutine, like the rest of the head.
type labelArena struct {
	pages [][]byte // each labelPageSize long, or longer for one big encoding (then followed by nil pages)
	cur   int      // page being filled
	live  int      // bytes of stored series' encodings
	dead  int      // bytes of removed series' encodings, until a compaction
	size  int64    // bytes of the pages (headBytes)
}

// labelsRef is a label set's position in the arena: page index times
// labelPageSize plus the offset in the page. 0 marks a free head slot
// (the arena's first byte is never used).
type labelsRef uint32

const (
	labelPageBits = 16
	labelPageSize = 1 << labelPageBits
	// labelCompactMinBytes keeps small heads from compacting often.
	labelCompactMinBytes = 1 << 20
	// maxLabelPages bounds the arena: positions are 32 bits.
	maxLabelPages = 1 << (32 - labelPageBits)
)

// put stores an encoding and returns its position.
func (a *labelArena) put(enc []byte) labelsRef {
	if len(a.pages) == 0 {
		a.pages = append(a.pages, make([]byte, 1, labelPageSize)) // byte 0: never a position
		a.size += labelPageSize
	}
	p := a.pages[a.cur]
	if len(p)+len(enc) > labelPageSize { // a big page is full after its one encoding
		n := 1
		if len(enc) > labelPageSize {
			n = (len(enc) + labelPageSize - 1) / labelPageSize
		}
		if len(a.pages)+n > maxLabelPages {
			panic(fmt.Sprintf("BUG: shard: head label arena above %d pages", maxLabelPages))
		}
		a.cur = len(a.pages)
		a.pages = append(a.pages, make([]byte, 0, n*labelPageSize))
		a.size += int64(n) * labelPageSize
		for range n - 1 {
			a.pages = append(a.pages, nil)
		}
		p = a.pages[a.cur]
	}
	ref := labelsRef(a.cur<<labelPageBits | len(p))
	a.pages[a.cur] = append(p, enc...)
	a.live += len(enc)
	return ref
}

// get returns the bytes from position r to the end of its page; the
// encoding is at their start.
func (a *labelArena) get(r labelsRef) []byte {
	return a.pages[r>>labelPageBits][r&(labelPageSize-1):]
}

// encodedLen is the length of the encoding at the start of b.
func encodedLen(b []byte) int {
	n, i := binary.Uvarint(b)
	for range n {
		_, _, i = nextLabelIDs(b, i)
	}
	return i
}

// nextLabelIDs decodes the name and value ids of the label at offset i of
// an encoding and returns them with the offset of the next label.
func nextLabelIDs(b []byte, i int) (name, value uint32, next int) {
	n, w := binary.Uvarint(b[i:])
	i += w
	v, w := binary.Uvarint(b[i:])
	return uint32(n), uint32(v), i + w
}

// encodeLabelIDs appends the encoding of ids (name and value per label) to
// dst.
func encodeLabelIDs(dst []byte, ids []uint32) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ids)/2))
	for _, id := range ids {
		dst = binary.AppendUvarint(dst, uint64(id))
	}
	return dst
}

// putLabels interns lset for series ref: adds it to the postings index and
// stores its symbol ids.
func (h *head) putLabels(ref uint32, lset labels.Labels) labelsRef {
	h.idBuf = h.index.AddSymbols(ref, lset, h.idBuf[:0])
	h.encBuf = encodeLabelIDs(h.encBuf[:0], h.idBuf)
	return h.lbls.put(h.encBuf)
}

// dropLabels removes series ref's labels from the index and the arena, and
// compacts the arena when it is mostly dead.
func (h *head) dropLabels(ref uint32, ms *memSeries) {
	h.index.DeleteSymbols(ref, h.labels(ms))
	n := encodedLen(h.lbls.get(ms.lbl))
	h.lbls.live -= n
	h.lbls.dead += n
	ms.lbl = 0
	if h.lbls.dead > h.lbls.live && h.lbls.dead >= labelCompactMinBytes {
		h.compactLabels()
	}
}

// compactLabels rewrites the live encodings into a fresh arena (O(series)).
func (h *head) compactLabels() {
	var fresh labelArena
	for i := uint32(1); i < h.nrefs; i++ {
		if ms := h.get(i); ms != nil {
			b := h.lbls.get(ms.lbl)
			ms.lbl = fresh.put(b[:encodedLen(b)])
		}
	}
	h.lbls = fresh
}

// labels returns the label set of a stored series (a new labels.Labels:
// one allocation).
func (h *head) labels(ms *memSeries) labels.Labels {
	b := h.lbls.get(ms.lbl)
	n, i := binary.Uvarint(b)
	h.lb.Reset()
	for range n {
		var name, value uint32
		name, value, i = nextLabelIDs(b, i)
		h.lb.Add(h.index.Symbol(name), h.index.Symbol(value))
	}
	return h.lb.Labels()
}

// equalLabels reports whether the stored series has label set lset,
// without allocating.
func (h *head) equalLabels(ms *memSeries, lset labels.Labels) bool {
	b := h.lbls.get(ms.lbl)
	n, i := binary.Uvarint(b)
	eq, k := true, uint64(0)
	lset.Range(func(l labels.Label) {
		if !eq {
			return
		}
		if k == n {
			eq = false
			return
		}
		k++
		var name, value uint32
		name, value, i = nextLabelIDs(b, i)
		eq = h.index.Symbol(name) == l.Name && h.index.Symbol(value) == l.Value
	})
	return eq && k == n
}
