package chunkstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// AppendRecord appends the on-disk record of c to dst and returns the
// extended slice (docs/format/chunks.md §Record):
//
//	uvarint body length | enc | varint minT | uvarint maxT-minT | uvarint count | payload | CRC32C
//
// The CRC covers every preceding byte of the record, the length included. c
// is written as given (any Enc, including an empty chunk); it is not
// validated, so callers pass chunks produced by an Appender. It allocates
// only if dst lacks capacity.
func AppendRecord(dst []byte, c Chunk) []byte {
	start := len(dst)
	span := uint64(c.MaxT) - uint64(c.MinT) // wraps; the reader wraps back
	body := 1 + varintLen(c.MinT) + uvarintLen(span) + uvarintLen(uint64(c.NumSamples)) + len(c.Data)
	dst = binary.AppendUvarint(dst, uint64(body))
	dst = append(dst, byte(c.Enc))
	dst = binary.AppendVarint(dst, c.MinT)
	dst = binary.AppendUvarint(dst, span)
	dst = binary.AppendUvarint(dst, uint64(c.NumSamples))
	dst = append(dst, c.Data...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// RecordSize returns the number of bytes AppendRecord writes for c.
func RecordSize(c Chunk) int {
	body := 1 + varintLen(c.MinT) + uvarintLen(uint64(c.MaxT)-uint64(c.MinT)) +
		uvarintLen(uint64(c.NumSamples)) + len(c.Data)
	return uvarintLen(uint64(body)) + body + recordCRCSize
}

// DecodeRecord decodes the record starting at src[off] and returns its
// chunk and the offset of the byte after the record.
//
// c.Data aliases src; src is never written. Any damage (truncation, a bad
// CRC, a malformed header) returns a *CorruptionError whose Offset is
// absolute in src, and errors.Is(err, ErrCorrupt) is true; c and next are
// then zero. A record with an encoding this version does not know decodes
// without error (the framing is encoding-independent) and its iterator
// reports ErrUnknownEncoding, so a reader can skip it. The payload of a
// known encoding is only checked for size here; iterate it to verify it.
func DecodeRecord(src []byte, off int) (c Chunk, next int, err error) {
	if off < 0 || off > len(src) {
		return Chunk{}, 0, corruptf(off, fmt.Errorf("%w: %d not in [0, %d]", errBadOffset, off, len(src)))
	}
	body, k := binary.Uvarint(src[off:])
	if k <= 0 {
		return Chunk{}, 0, corruptf(off, fmt.Errorf("record length: %w", varintErr(k)))
	}
	if body > MaxRecordBodySize {
		return Chunk{}, 0, corruptf(off, fmt.Errorf("%w: %d > %d", errRecordTooBig, body, MaxRecordBodySize))
	}
	p := off + k
	end := p + int(body)
	if end+recordCRCSize > len(src) {
		return Chunk{}, 0, corruptf(off, fmt.Errorf("record of %d bytes at most %d available: %w",
			k+int(body)+recordCRCSize, len(src)-off, errTruncated))
	}
	want := binary.BigEndian.Uint32(src[end:])
	if got := crc32.Checksum(src[off:end], castagnoli); got != want {
		return Chunk{}, 0, corruptf(off, fmt.Errorf("%w: computed %#08x, stored %#08x", errCRC, got, want))
	}

	// The CRC matched, so from here on damage means a writer bug or a CRC
	// collision; still never trust the bytes.
	if p >= end {
		return Chunk{}, 0, corruptf(p, fmt.Errorf("encoding byte: %w", errTruncated))
	}
	c.Enc = Encoding(src[p])
	p++
	minT, k := binary.Varint(src[p:end])
	if k <= 0 {
		return Chunk{}, 0, corruptf(p, fmt.Errorf("min time: %w", varintErr(k)))
	}
	p += k
	span, k := binary.Uvarint(src[p:end])
	if k <= 0 {
		return Chunk{}, 0, corruptf(p, fmt.Errorf("time span: %w", varintErr(k)))
	}
	p += k
	countOff := p
	count, k := binary.Uvarint(src[p:end])
	if k <= 0 {
		return Chunk{}, 0, corruptf(p, fmt.Errorf("sample count: %w", varintErr(k)))
	}
	p += k
	payload := src[p:end:end]
	if count > 1<<32-1 {
		return Chunk{}, 0, corruptf(countOff, fmt.Errorf("%w: %d samples", errCountTooLarge, count))
	}
	if c.Enc == EncXOR && count > maxXORSamples(len(payload)) {
		return Chunk{}, 0, corruptf(countOff, fmt.Errorf("%w: %d samples in %d bytes", errCountTooLarge, count, len(payload)))
	}
	c.MinT = minT
	c.MaxT = int64(uint64(minT) + span)
	c.NumSamples = int(count)
	c.Data = payload
	return c, end + recordCRCSize, nil
}

// maxXORSamples bounds the samples an EncXOR payload of n bytes can hold:
// every sample takes at least 1 bit, all but the first two at least 2.
func maxXORSamples(n int) uint64 {
	return 4*uint64(n) + 1
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func varintLen(x int64) int {
	return uvarintLen(uint64(x<<1) ^ uint64(x>>63))
}
