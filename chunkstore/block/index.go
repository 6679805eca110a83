package block

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/postings"
)

// ChunkMeta locates one chunk of a series: its time bounds (ms, closed:
// the first and last sample) and its chunk ref (segment<<32 | offset).
type ChunkMeta struct {
	MinT, MaxT int64
	Ref        uint64
}

// indexReader holds the decoded sections of a block index. Immutable after
// parseIndex; its byte slices alias the mapping.
type indexReader struct {
	dir      string
	b        []byte   // the whole index file
	series   []byte   // series section payload
	seriesAt int64    // offset of the series payload in b
	offsets  []byte   // series offsets payload, 4 bytes per series
	syms     []string // copied out of the mapping
	post     *postings.Reader
	n        int
	// ts is the timestamps section payload (version 2; nil in version 1)
	// and tsAt its offset in b.
	ts   []byte
	tsAt int64
}

// sectionNames names the index sections in file order, for errors.
var sectionNames = [numSectionsV2]string{"series", "series offsets", "symbols", "postings", "timestamps"}

// parseIndex checks the header, the TOC and every section CRC of a block
// index and decodes its symbol table and postings (docs/format/index.md
// §Block index). Series entries are decoded on demand.
func parseIndex(dir string, b []byte) (*indexReader, error) {
	corrupt := func(off int64, err error) error {
		return &CorruptionError{Block: dir, File: indexFilename, Offset: off, Err: err}
	}
	if len(b) < headerSize {
		return nil, corrupt(0, fmt.Errorf("index of %d bytes: %w", len(b), errTruncated))
	}
	if m := binary.BigEndian.Uint32(b); m != indexMagic {
		return nil, corrupt(0, fmt.Errorf("%w %#08x", errBadMagic, m))
	}
	ns := numSections
	switch b[4] {
	case indexVersion1:
	case indexVersion2:
		ns = numSectionsV2
	case indexVersion3:
		if b[5]|b[6]|b[7] != 0 {
			return nil, corrupt(5, errReserved)
		}
		img, err := decompressIndex(dir, b)
		if err != nil {
			return nil, err
		}
		return parseIndex(dir, img)
	default:
		return nil, fmt.Errorf("block %s index version %d (want %d to %d): %w", dir, b[4], indexVersion1, indexVersion3, ErrUnsupportedVersion)
	}
	if b[5]|b[6]|b[7] != 0 {
		return nil, corrupt(5, errReserved)
	}
	if len(b) < headerSize+ns*sectionFrameSize+ns*8+crcSize {
		return nil, corrupt(0, fmt.Errorf("index of %d bytes: %w", len(b), errTruncated))
	}
	tocAt := len(b) - (ns*8 + crcSize)
	toc := b[tocAt:]
	if got, want := crc32.Checksum(toc[:ns*8], castagnoli), binary.BigEndian.Uint32(toc[ns*8:]); got != want {
		return nil, corrupt(int64(tocAt), fmt.Errorf("toc %w: computed %#08x, stored %#08x", errCRC, got, want))
	}
	var offs [numSectionsV2 + 1]uint64
	for i := range ns {
		offs[i] = binary.BigEndian.Uint64(toc[8*i:])
	}
	offs[ns] = uint64(tocAt)
	if offs[0] != headerSize {
		return nil, corrupt(int64(tocAt), fmt.Errorf("series section at %d (want %d)", offs[0], headerSize))
	}
	var payloads [numSectionsV2][]byte
	for i, name := range sectionNames[:ns] {
		start, end := offs[i], offs[i+1]
		if start > end || end > uint64(tocAt) || end-start < sectionFrameSize {
			return nil, corrupt(int64(tocAt), fmt.Errorf("%s section spans [%d, %d) in an index of %d bytes", name, start, end, len(b)))
		}
		s := b[start:end]
		n := uint64(binary.BigEndian.Uint32(s))
		if n != uint64(len(s))-sectionFrameSize {
			return nil, corrupt(int64(start), fmt.Errorf("%s section length %d, but the TOC leaves %d bytes", name, n, uint64(len(s))-sectionFrameSize))
		}
		p := s[4 : 4+n : 4+n]
		if got, want := crc32.Checksum(p, castagnoli), binary.BigEndian.Uint32(s[4+n:]); got != want {
			return nil, corrupt(int64(start), fmt.Errorf("%s section %w: computed %#08x, stored %#08x", name, errCRC, got, want))
		}
		payloads[i] = p
	}
	ir := &indexReader{
		dir:      dir,
		b:        b,
		series:   payloads[0],
		seriesAt: int64(offs[0]) + 4,
		offsets:  payloads[1],
	}
	if ns == numSectionsV2 {
		// Column records are checked when read (their own CRC) and by
		// Verify; the section CRC above already covers them.
		ir.ts, ir.tsAt = payloads[4], int64(offs[4])+4
		if ir.ts == nil {
			ir.ts = []byte{}
		}
	}
	offsetsAt := int64(offs[1]) + 4
	if len(ir.offsets)%4 != 0 {
		return nil, corrupt(offsetsAt, fmt.Errorf("series offsets section of %d bytes is not a multiple of 4", len(ir.offsets)))
	}
	ir.n = len(ir.offsets) / 4
	prev := int64(-1)
	for i := 0; i < ir.n; i++ {
		o := int64(binary.BigEndian.Uint32(ir.offsets[4*i:]))
		if o <= prev || o >= int64(len(ir.series)) || (i == 0 && o != 0) {
			return nil, corrupt(offsetsAt+int64(4*i), fmt.Errorf("%w: series %d at %d", errBadOffsets, i, o))
		}
		prev = o
	}
	if ir.n == 0 && len(ir.series) != 0 {
		return nil, corrupt(ir.seriesAt, fmt.Errorf("%d series bytes but no series: %w", len(ir.series), errTrailing))
	}

	symAt := int64(offs[2]) + 4
	d := decoder{b: payloads[2]}
	n := d.count(1)
	ir.syms = make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		l := d.count(1)
		if d.err == nil {
			ir.syms = append(ir.syms, string(d.b[d.off:d.off+l]))
			d.off += l
		}
	}
	if d.err != nil {
		return nil, corrupt(symAt+int64(d.errOff), fmt.Errorf("symbols: %w", d.err))
	}
	if d.off != len(d.b) {
		return nil, corrupt(symAt+int64(d.off), fmt.Errorf("symbols: %w", errTrailing))
	}

	postAt := int64(offs[3]) + 4
	pr, err := postings.NewReader(payloads[3])
	if err != nil {
		var pe *postings.CorruptionError
		if errors.As(err, &pe) {
			return nil, corrupt(postAt+pe.Offset, fmt.Errorf("postings: %w", err))
		}
		return nil, fmt.Errorf("block %s index postings: %w", dir, err)
	}
	if pr.NumSeries() != ir.n {
		return nil, corrupt(postAt, fmt.Errorf("postings cover %d series, the series table %d: %w", pr.NumSeries(), ir.n, errMismatch))
	}
	ir.post = pr
	return ir, nil
}

// readSeries decodes the entry of series ref, appending its chunk metas to dst.
func (ir *indexReader) readSeries(ref uint32, b *labels.ScratchBuilder, dst []ChunkMeta) (labels.Labels, []ChunkMeta, error) {
	if int(ref) >= ir.n {
		return labels.EmptyLabels(), dst, fmt.Errorf("block %s: series ref %d of %d: %w", ir.dir, ref, ir.n, ErrNotFound)
	}
	start := int(binary.BigEndian.Uint32(ir.offsets[4*ref:]))
	end := len(ir.series)
	if int(ref)+1 < ir.n {
		end = int(binary.BigEndian.Uint32(ir.offsets[4*ref+4:]))
	}
	corrupt := func(off int, err error) error {
		return &CorruptionError{Block: ir.dir, File: indexFilename, Offset: ir.seriesAt + int64(off),
			Err: fmt.Errorf("series %d: %w", ref, err)}
	}
	d := decoder{b: ir.series[:end], off: start}
	nl := d.count(2)
	if d.err == nil && nl == 0 {
		return labels.EmptyLabels(), dst, corrupt(start, errBadLabels)
	}
	b.Reset()
	prevName := ""
	for i := 0; i < nl && d.err == nil; i++ {
		at := d.off
		ni, vi := d.uvarint(), d.uvarint()
		if d.err != nil {
			break
		}
		if ni >= uint64(len(ir.syms)) || vi >= uint64(len(ir.syms)) {
			return labels.EmptyLabels(), dst, corrupt(at, errBadSymbol)
		}
		name, value := ir.syms[ni], ir.syms[vi]
		if (i > 0 && name <= prevName) || name == "" || value == "" {
			return labels.EmptyLabels(), dst, corrupt(at, errBadLabels)
		}
		prevName = name
		b.Add(name, value)
	}
	nc := d.count(3)
	if d.err == nil && nc == 0 {
		return labels.EmptyLabels(), dst, corrupt(d.off, fmt.Errorf("no chunks: %w", errBadChunks))
	}
	var prev ChunkMeta
	for i := 0; i < nc && d.err == nil; i++ {
		at := d.off
		var c ChunkMeta
		if i == 0 {
			c.MinT = d.varint()
			span := d.uvarint()
			c.MaxT = c.MinT + int64(span)
			c.Ref = d.uvarint()
			if span > maxInt64 || c.MaxT < c.MinT {
				return labels.EmptyLabels(), dst, corrupt(at, errBadChunks)
			}
		} else {
			gap, span := d.uvarint(), d.uvarint()
			c.MinT = prev.MaxT + int64(gap)
			c.MaxT = c.MinT + int64(span)
			dref := d.uvarint()
			c.Ref = prev.Ref + dref
			if gap == 0 || gap > maxInt64 || span > maxInt64 || c.MinT <= prev.MaxT || c.MaxT < c.MinT || dref == 0 || c.Ref < prev.Ref {
				return labels.EmptyLabels(), dst, corrupt(at, errBadChunks)
			}
		}
		dst = append(dst, c)
		prev = c
	}
	if d.err != nil {
		return labels.EmptyLabels(), dst, corrupt(d.errOff, d.err)
	}
	if d.off != end {
		return labels.EmptyLabels(), dst, corrupt(d.off, errTrailing)
	}
	return b.Labels(), dst, nil
}
