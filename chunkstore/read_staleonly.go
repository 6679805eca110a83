package chunkstore

import "encoding/binary"

// HoldsNoNaN reports whether c is a decimal chunk (EncDecimal or
// EncDecimalShared) whose header announces no extension fields: then none
// of its values is a NaN, a stale marker included (a NaN is never decimal,
// so it can only be stored as an exception, and exceptions exist only
// under the extended flag: docs/format/chunks.md, EncDecimal payload). It
// reads the header byte only, not the body, so it does not check the
// chunk. False when it cannot tell: another encoding, or no header.
//
// Readers use it to skip work: a stale-only reader of a shared-column
// chunk takes the column as the chunk's samples without decoding it, and
// range windows need no scan for stale markers.
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

// DecodedNoNaN reports whether the chunk the iterator was last Reset to is
// a decimal chunk decoded whole with neither exceptions nor corrections
// (in any mode but stale-only): each of its values is then float64(m) /
// 10^e for an integer m, never a NaN, so a reader of Decoded's columns
// needs no scan for stale markers. False otherwise (EncXOR, stale-only
// mode, a failed decode, exceptions or corrections present). Unlike
// HoldsNoNaN it knows the extension fields a header only announces (a
// value divisor alone, common for counters, rules no NaN out).
func (it *Iterator) DecodedNoNaN() bool {
	return it.decimal && it.err == nil && !it.staleOnly && it.dec != nil &&
		len(it.dec.excIdx) == 0 && len(it.dec.cz) == 0
}
