package chunkstore

import (
	"encoding/binary"
	"slices"
)

// ResetFromStaleOnly is ResetFrom for an iterator in stale-only mode
// (SetStaleOnly(true)); in any other mode it is ResetFrom. An
// EncDecimalShared chunk whose header announces no extension fields is
// then not decoded at all: its timestamps are its shared column
// (Chunk.Timestamps, used in place) and every value reads 0. That is exact
// for the mode's contract: a stale marker is a NaN, a NaN is never
// decimal, so it can only be stored as an exception, and exceptions exist
// only under the extended flag (docs/format/chunks.md, EncDecimal payload,
// header and extension bits). Such a chunk's body, zstd-compressed or
// packed, is neither decompressed nor parsed, so damage inside it is not
// detected in this mode (as SetStaleOnly already says of the value
// streams); the column is checked against the chunk as ResetFrom checks
// it. Every other chunk is decoded by ResetFrom.
func (it *Iterator) ResetFromStaleOnly(c Chunk, from int64) {
	if !it.staleOnly || c.Enc != EncDecimalShared || c.NumSamples <= 0 ||
		len(c.Timestamps) != c.NumSamples || c.Timestamps[0] != c.MinT || c.Timestamps[c.NumSamples-1] != c.MaxT ||
		c.NumSamples > MaxDecimalSamples {
		it.ResetFrom(c, from)
		return
	}
	_, k := binary.Uvarint(c.Data) // the column reference
	if k <= 0 || k >= len(c.Data) || c.Data[k]&decFlagExtended != 0 || int(c.Data[k]>>decExpShift) > decMaxExp {
		it.ResetFrom(c, from)
		return
	}
	*it = Iterator{
		numSamples: c.NumSamples,
		minT:       c.MinT,
		maxT:       c.MaxT,
		dec:        it.dec,
		staleOnly:  true,
		decimal:    true,
	}
	if it.dec == nil {
		it.dec = new(decimalState)
	}
	d := it.dec
	n := c.NumSamples
	d.ts = c.Timestamps
	d.vs = slices.Grow(d.vs[:0], n)[:n]
	clear(d.vs)
	d.excIdx, d.excBits = d.excIdx[:0], d.excBits[:0]
	d.first = firstAtOrAfter(d.ts, from)
	it.startDecimal()
}

// HoldsNoNaN reports whether c is a decimal chunk (EncDecimal or
// EncDecimalShared) whose header announces no extension fields: then none
// of its values is a NaN, a stale marker included (a NaN is never decimal,
// so it can only be an exception). It reads the header byte only, not the
// body. False when it cannot tell: another encoding, or no header.
func HoldsNoNaN(c Chunk) bool {
	if c.NumSamples <= 0 {
		return false
	}
	p := c.Data
	switch c.Enc {
	case EncDecimal:
	case EncDecimalShared:
		_, k := binary.Uvarint(p) // the column reference
		if k <= 0 {
			return false
		}
		p = p[k:]
	default:
		return false
	}
	return len(p) > 0 && p[0]&decFlagExtended == 0
}
