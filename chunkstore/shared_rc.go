package chunkstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// EncDecimalSharedRC (docs/format/chunks.md §EncDecimalSharedRC payload):
// the EncDecimalShared payload with its value streams in one range-coded
// section (rc.go) instead of bit-packed or zstd-compressed, and a third
// value model beside delta and delta-of-delta, the level model (entries
// are the values' distances from a base), which fits noise around a level
// (scrape durations) better than deltas, whose spread is √2 times larger.
// Format constants: decimal_format.go.

// errRC is the corruption of a range-coded section.
var errRC = errors.New("range-coded section")

// rcMinGain is what a range-coded payload must save against the
// EncDecimalShared payload of the same chunk to be written: at least
// rcMinGainBytes and 1/rcMinGainDiv of it. Decoding a range-coded chunk
// costs more CPU per sample than the zstd or packed layouts
// (docs/COMPRESSION.md §Issue 17: range-coded values), so it is written
// only where it pays in bytes; an all-zero value stream (a constant
// series) is one byte and decodes without the coder at all.
const (
	rcMinGainBytes = 2
	rcMinGainDiv   = 32
	// A range-coded candidate at most rcSkipZstdNum/rcSkipZstdDen of the
	// packed body is taken without trying the zstd layout, which is
	// rarely smaller than that (about 3/4 of packed on long node chunks)
	// and would cost a quarter of the encoder's time. 4/5 writes the same
	// bytes as trying zstd always on the real capture and the node day;
	// 9/10 costs 0.2 % on the node day.
	rcSkipZstdNum = 4
	rcSkipZstdDen = 5
)

// rcPays reports whether a range-coded payload of rc bytes is worth
// writing instead of one of old bytes.
func rcPays(rc, old int) bool { return rc+max(rcMinGainBytes, old/rcMinGainDiv) <= old }

// rcChunk returns the range-coded candidate in e.rcb as the payload,
// copied to dst[:0] (EncDecimalSharedRC without its column reference,
// which EncodeShared puts in front).
func (e *DecimalEncoder) rcChunk(dst []byte, ts []int64) Chunk {
	c := e.chunk(append(dst[:0], e.rcb...), ts)
	c.Enc = EncDecimalSharedRC
	return c
}

// SetRangeCoded makes EncodeShared write EncDecimalSharedRC chunks where
// they are smaller than EncDecimalShared by the margin above (on: the
// long-term encoding of compacted blocks); off, the default, it writes
// EncDecimalShared only.
func (e *DecimalEncoder) SetRangeCoded(on bool) { e.rangeCoded = on }

// rangeCodedBody returns the EncDecimalSharedRC payload (without the
// column reference) of the chunk that Encode is encoding (scale and
// streams have filled e), whose EncDecimalShared header byte is hdr, and
// whether it pays against an EncDecimalShared payload of old bytes. It
// aliases e.rcb.
func (e *DecimalEncoder) rangeCodedBody(hdr byte, vs []float64, old int) ([]byte, bool) {
	n := len(e.ms)
	if n < 2 {
		return nil, false
	}
	// The three models, costed by the entries' bit lengths (what the
	// coder's first decisions model); the dod model also stores dm1.
	deltas, dods := e.vs[:n-1], e.vs[n-1:]
	gd, gdd, gl := e.gDelta, e.gDod, uint64(1)
	cd := lenCost(deltas, gd)
	cl := uint64(math.MaxUint64)
	var base int64
	// The level model is costed only where the packed layout's choice was
	// the delta model: where dods beat deltas the series is smooth (a
	// counter), and levels are no better than deltas.
	if hdr&decFlagValueDod == 0 {
		base = levelBase(e.ms, e.exc)
		e.lv = slices.Grow(e.lv[:0], n)[:n]
		for i, m := range e.ms {
			e.lv[i] = m - base
		}
		for _, i := range e.exc {
			e.lv[i] = 0 // the exception's bits are stored
		}
		// The level residuals' gcd divides every delta's (a delta is the
		// difference of two residuals): with deltas' gcd 1 it is 1.
		if gd > 1 {
			gl = gcdOf(e.lv)
		}
		cl = lenCost(e.lv, gl)
	}
	cdd := uint64(math.MaxUint64)
	if n >= 3 {
		cdd = lenCost(dods, gdd) + 8*uint64(varintLen(e.ms[1]-e.ms[0]))
	}
	win, g, first, flags := deltas, gd, e.ms[0], byte(0)
	valueDod := false
	switch {
	case cl < cd && cl <= cdd:
		win, g, first, flags = e.lv, gl, base, decFlagLevel
	case cdd < cd:
		win, g, flags, valueDod = dods, gdd, decFlagValueDod, true
	}
	e.rz = slices.Grow(e.rz[:0], len(win))[:len(win)]
	// or is 0 when every entry is; plain counts the bits stored plainly,
	// a lower bound of the size.
	or, plain := uint64(0), 0
	if g == 1 {
		for i, d := range win {
			u := zigzag(d)
			or |= u
			plain += max(bits.Len64(u)-1-rcTopBits, 0)
			e.rz[i] = u
		}
	} else {
		dv := newExactDiv(g)
		for i, d := range win {
			u := zigzag(dv.div(d))
			or |= u
			plain += max(bits.Len64(u)-1-rcTopBits, 0)
			e.rz[i] = u
		}
	}
	for _, u := range e.cz {
		or |= u
		plain += max(bits.Len64(u)-1-rcTopBits, 0)
	}
	zero := or == 0
	h := hdr&(decExpMask) | flags
	if len(e.exc) > 0 || g > 1 || e.near {
		h |= decFlagExtended
	}
	b := append(e.rcb[:0], h)
	b = e.appendFields(b, vs, first, valueDod, g)
	if zero {
		b = append(b, 0) // an empty section: every entry is 0
	} else {
		// The coder's bytes (at least 4, and a length) come on top.
		if !e.rcForce && len(b)+5+plain/8+max(rcMinGainBytes, old/rcMinGainDiv) > old {
			return nil, false // cannot pay: not worth coding
		}
		if e.rc == nil {
			e.rc = new(rcEncoder)
		}
		rc := e.rc
		rc.init()
		cv, cc := rcCentre(e.rz), uint(0)
		rc.stream(e.rz, cv)
		if e.near {
			cc = rcCentre(e.cz)
			rc.stream(e.cz, cc)
		}
		rc.finish()
		b = binary.AppendUvarint(b, uint64(len(rc.out)))
		b = append(b, byte(cv))
		if e.near {
			b = append(b, byte(cc))
		}
		b = append(b, rc.out...)
		b = append(b, rc.plain.b...)
	}
	e.rcb = b
	if !e.rcForce && !rcPays(len(b), old) {
		return nil, false
	}
	return b, true
}

// decExpMask selects the exponent of a decimal header byte.
const decExpMask = 0xff &^ (1<<decExpShift - 1)

// levelBase is the level model's base: the mean of the scaled values
// that are not exceptions, rounded (the first value when there are
// none, or the mean does not fit).
func levelBase(ms []int64, exc []int) int64 {
	var sum float64
	for _, m := range ms {
		sum += float64(m)
	}
	for _, i := range exc {
		sum -= float64(ms[i])
	}
	k := len(ms) - len(exc)
	if k <= 0 {
		return ms[0]
	}
	b := math.Round(sum / float64(k))
	if !(b >= -(1<<62) && b < 1<<62) {
		return ms[0]
	}
	return int64(b)
}

// lenCost is the sum of the bit lengths of the zigzagged vals / g, plus
// the bytes that announce g.
func lenCost(vals []int64, g uint64) uint64 {
	total := uint64(0)
	if g > 1 {
		total = 8 * uint64(uvarintLen(g))
	}
	if g <= 1 {
		for _, v := range vals {
			total += uint64(bits.Len64(zigzag(v)))
		}
		return total
	}
	dv := newExactDiv(g)
	for _, v := range vals {
		total += uint64(bits.Len64(zigzag(dv.div(v))))
	}
	return total
}

// rcSection reads the range-coded section that ends the body: nv value
// entries into d.vz and nc corrections into d.cz. Their number is not
// bounded by the section's size (a learnt decision costs 0.0025 bits, so
// a few bytes hold thousands of zero entries) but by the chunk's sample
// count, which the caller checked against the shared column it holds.
func (r *byteReader) rcSection(d *decimalState, nv, nc int) {
	if r.err != nil {
		return
	}
	d.vz = slices.Grow(d.vz[:0], nv)[:nv]
	d.cz = slices.Grow(d.cz[:0], nc)[:nc]
	start := r.off()
	l := r.uvarint("range-coded length")
	if r.err != nil {
		return
	}
	if l == 0 {
		// The empty section: every entry is 0.
		if len(r.b) != 0 {
			r.err = corruptf(r.off(), errTrailing)
			return
		}
		clear(d.vz)
		clear(d.cz)
		return
	}
	// The centre of each stream, then the range-coded bytes.
	var centre [2]uint
	streams := 1
	if nc > 0 {
		streams = 2
	}
	for i := range streams {
		if len(r.b) == 0 {
			r.err = corruptf(r.off(), fmt.Errorf("%w: centre: %w", errRC, errTruncated))
			return
		}
		if centre[i] = uint(r.b[0]); centre[i] > rcMaxLen {
			r.err = corruptf(r.off(), fmt.Errorf("%w: centre %d > %d", errRC, centre[i], rcMaxLen))
			return
		}
		r.b, r.read = r.b[1:], r.read+1
	}
	if l > uint64(len(r.b)) {
		r.err = corruptf(start, fmt.Errorf("%w: %d range-coded bytes, %d left", errRC, l, len(r.b)))
		return
	}
	if d.rcd == nil {
		d.rcd = new(rcDecoder)
	}
	rd := d.rcd
	rd.init(r.b[:l], r.b[l:])
	ok := rd.stream(d.vz, centre[0]) && rd.stream(d.cz, centre[1])
	switch {
	case !ok:
		r.err = corruptf(start, fmt.Errorf("%w: plain bits end early", errRC))
	case len(rd.b) != 0:
		r.err = corruptf(start, fmt.Errorf("%w: %d range-coded bytes, %d read", errRC, l, int(l)-len(rd.b)))
	default:
		// The plain bits end in the last byte, zero-padded.
		pl := uint(len(rd.plain)) * 8
		switch {
		case pl-rd.pbit >= 8:
			r.err = corruptf(r.off()+int(l)+int(rd.pbit/8)+1, errTrailing)
		case pl > rd.pbit && bitsAt(rd.plain, rd.pbit, pl-rd.pbit) != 0:
			r.err = corruptf(r.off()+int(l)+len(rd.plain)-1, errBadPadding)
		}
	}
	if r.err == nil {
		r.read += len(r.b)
		r.b = r.b[len(r.b):]
	}
}
