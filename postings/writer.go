package postings

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
)

// AppendTo appends the serialized form of the index (docs/format/index.md,
// version 1) to dst and returns the extended slice. Label pairs, names and
// symbols are written in sorted order, so equal indexes serialize to equal
// bytes. The error is non-nil only when a section would exceed the 4 GiB
// its length field can describe. Call from the owner goroutine.
func (ix *Index) AppendTo(dst []byte) ([]byte, error) {
	names := ix.labelNames()

	// Symbol table: every name and value, sorted, deduplicated. A symbol's
	// id is its position.
	syms := make([]string, 0, len(names)+ix.pairs)
	for _, n := range names {
		syms = append(syms, n)
		syms = append(syms, ix.labels[n].sortedValues()...)
	}
	slices.Sort(syms)
	syms = slices.Compact(syms)
	symID := func(s string) uint64 {
		return uint64(sort.SearchStrings(syms, s))
	}

	// §Header
	dst = binary.BigEndian.AppendUint32(dst, indexMagic)
	dst = append(dst, indexVersion1, 0, 0, 0)

	// §Symbols
	symbolsOff := len(dst)
	var err error
	dst, err = appendSection(dst, "symbols", func(b []byte) []byte {
		b = binary.AppendUvarint(b, uint64(len(syms)))
		for _, s := range syms {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		return b
	})
	if err != nil {
		return nil, err
	}

	// §Postings, remembering where each list went for the label index.
	type entry struct{ off, n, card uint64 }
	entries := make([]entry, 0, ix.pairs+1)
	postingsOff := len(dst)
	var buf bytes.Buffer
	dst, err = appendSection(dst, "postings", func(b []byte) []byte {
		start := len(b)
		// Each list is a run-optimized copy in the portable roaring
		// format; the live bitmaps are left as they are.
		appendList := func(bm *roaring.Bitmap) []byte {
			bm = bm.Clone()
			bm.RunOptimize()
			buf.Reset()
			_, _ = bm.WriteTo(&buf) // a bytes.Buffer does not fail
			entries = append(entries, entry{off: uint64(len(b) - start), n: uint64(buf.Len()), card: bm.GetCardinality()})
			return append(b, buf.Bytes()...)
		}
		b = appendList(ix.all)
		for _, n := range names {
			ni := ix.labels[n]
			for _, v := range ni.sortedValues() {
				b = appendList(ni.values[v].bitmap())
			}
		}
		return b
	})
	if err != nil {
		return nil, err
	}

	// §Label index
	labelIndexOff := len(dst)
	dst, err = appendSection(dst, "label index", func(b []byte) []byte {
		b = binary.AppendUvarint(b, entries[0].n)
		b = binary.AppendUvarint(b, entries[0].card)
		b = binary.AppendUvarint(b, uint64(len(names)))
		i := 1
		for _, n := range names {
			values := ix.labels[n].sortedValues()
			b = binary.AppendUvarint(b, symID(n))
			b = binary.AppendUvarint(b, uint64(len(values)))
			for _, v := range values {
				e := entries[i]
				i++
				b = binary.AppendUvarint(b, symID(v))
				b = binary.AppendUvarint(b, e.off)
				b = binary.AppendUvarint(b, e.n)
				b = binary.AppendUvarint(b, e.card)
			}
		}
		return b
	})
	if err != nil {
		return nil, err
	}

	// §TOC
	tocStart := len(dst)
	dst = binary.BigEndian.AppendUint64(dst, uint64(symbolsOff))
	dst = binary.BigEndian.AppendUint64(dst, uint64(postingsOff))
	dst = binary.BigEndian.AppendUint64(dst, uint64(labelIndexOff))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[tocStart:], castagnoli))
	return dst, nil
}

// WriteTo writes the serialized form of the index (see AppendTo) to w and
// returns the number of bytes written. Call from the owner goroutine.
func (ix *Index) WriteTo(w io.Writer) (int64, error) {
	b, err := ix.AppendTo(nil)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	if err != nil {
		return int64(n), fmt.Errorf("write postings index: %w", err)
	}
	return int64(n), nil
}

// appendSection appends length <4b BE>, the payload produced by fill, and
// the payload's CRC32C <4b BE> (docs/format/index.md §Sections).
func appendSection(dst []byte, name string, fill func([]byte) []byte) ([]byte, error) {
	lenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = fill(dst)
	n := len(dst) - lenAt - 4
	if n > maxSectionSize {
		return nil, fmt.Errorf("postings: %s section of %d bytes exceeds the format limit %d", name, n, maxSectionSize)
	}
	binary.BigEndian.PutUint32(dst[lenAt:], uint32(n))
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[lenAt+4:], castagnoli)), nil
}
