package chunkstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/klauspost/compress/zstd"
)

// Layouts an encoder may pick for an EncDecimal payload. The zero value
// lets the encoder try both and keep the smaller.
type decimalLayouts uint8

const (
	layoutBoth   decimalLayouts = 0
	layoutPacked decimalLayouts = 1 // bit-packed streams only
	layoutZstd   decimalLayouts = 2 // zstd over uvarint streams only
)

// DecimalEncoder encodes whole columns of samples into EncDecimal chunks
// (docs/format/chunks.md §EncDecimal payload).
//
// Values are modelled as v = m / 10^e with one exponent e per chunk and
// int64 m; m is delta- or delta-of-delta-coded (whichever packs smaller).
// A value that is not exactly m / 10^e (NaN payloads, ±Inf, −0, values with
// too many digits) becomes an exception stored as its raw 64 bits, so every
// bit pattern round-trips. Timestamps are delta-of-delta coded. The streams
// are then either bit-packed in groups of 64 with one width per group or
// written as uvarints and zstd-compressed; the encoder keeps the smaller.
//
// The zero value is ready to use. Owned by one goroutine; it keeps scratch
// buffers (and, after the first chunk large enough to try it, a zstd
// encoder) between calls, so steady-state use allocates only when dst
// lacks capacity.
type DecimalEncoder struct {
	ms     []int64  // scaled values, exceptions replaced by the previous m
	vs     []int64  // value deltas and dods, before division and zigzag
	corr   []int64  // ULP corrections (near model), 0 for exact values
	cz     []uint64 // zigzagged corrections, when near
	near   bool     // the near model was chosen
	gcd    uint64   // divisor of the value stream (1: none)
	gDelta uint64   // divisors of the delta and dod streams (streams)
	gDod   uint64
	exc    []int    // indices of exceptions, ascending
	tz, vz []uint64 // zigzagged timestamp and value streams
	body   []byte   // packed or uvarint body
	raw    []byte   // uvarint body for the zstd layout
	zenc   *zstd.Encoder
	zerr   error

	// Range coding (EncodeShared only; shared_rc.go).
	rangeCoded bool
	rcForce    bool // write EncDecimalSharedRC whenever possible (tests)
	rc         *rcEncoder
	lv         []int64  // level-model residuals
	rz         []uint64 // the chosen range-coded value stream
	rcb        []byte   // the range-coded payload candidate

	// layouts restricts the layouts tried (tests and measurements).
	layouts decimalLayouts
	// noGiveUp makes Encode encode any chunk, however many exceptions.
	noGiveUp bool
	// valuesOnly leaves the first delta and the timestamp stream out of
	// the body: not decodable, it measures what a chunk would cost with a
	// shared timestamp table (docs/COMPRESSION.md §Shared timestamps).
	valuesOnly bool
}

// Encode encodes the samples (ts[i], vs[i]) as one EncDecimal chunk whose
// payload is appended to dst[:0]; the chunk's Data aliases the returned
// buffer's array (dst's, when it had capacity). Every timestamp sequence and
// every float64 bit pattern round-trips. ts and vs must have equal length
// of at most MaxDecimalSamples. The boolean is false (and the chunk empty)
// when more than an eighth of the values are not decimal: EncXOR is then
// the better encoding and Encode stops early rather than pay for the
// exceptions. An error is returned only for invalid arguments or a zstd
// encoder that cannot be created.
func (e *DecimalEncoder) Encode(dst []byte, ts []int64, vs []float64) (Chunk, bool, error) {
	n := len(ts)
	if len(vs) != n {
		return Chunk{}, false, fmt.Errorf("chunkstore: decimal encode: %d timestamps but %d values", n, len(vs))
	}
	if n > MaxDecimalSamples {
		return Chunk{}, false, fmt.Errorf("chunkstore: decimal encode: %d samples > %d", n, MaxDecimalSamples)
	}
	dst = dst[:0]
	if n == 0 {
		return Chunk{Enc: EncDecimal, Data: dst}, true, nil
	}
	exp, ok := e.scale(vs)
	if !ok {
		return Chunk{}, false, nil
	}
	valueDod := e.streams(ts)
	hdr := byte(exp) << decExpShift
	if valueDod {
		hdr |= decFlagValueDod
	}
	if len(e.exc) > 0 || e.gcd > 1 || e.near {
		hdr |= decFlagExtended
	}

	packedLen := -1
	if e.layouts != layoutZstd {
		e.body = e.appendBody(e.body[:0], ts, vs, valueDod, true)
		packedLen = len(e.body)
	}
	// The range-coded candidate (EncodeShared with range coding on):
	// when it is far below the packed body, zstd (about 3/4 of packed on
	// long node chunks) is not tried at all (shared_rc.go).
	rcLen := -1
	if e.rangeCoded && e.valuesOnly && n >= 2 && packedLen >= 0 {
		if b, ok := e.rangeCodedBody(hdr, vs, 1+packedLen); ok {
			if rcLen = len(b); rcLen*rcSkipZstdDen <= (1+packedLen)*rcSkipZstdNum {
				return e.rcChunk(dst, ts), true, nil
			}
		}
	}
	if e.layouts != layoutPacked && n > 2 {
		e.raw = e.appendBody(e.raw[:0], ts, vs, valueDod, false)
		// Only worth compressing when the bytes could come out smaller
		// than the packed body: the frame costs about 6 bytes.
		if packedLen < 0 || len(e.raw) > 8 {
			if zl, err := e.compress(dst, hdr|decFlagZstd); err != nil {
				return Chunk{}, false, err
			} else if packedLen < 0 || len(zl) < 1+packedLen {
				if rcLen >= 0 && (e.rcForce || rcPays(rcLen, len(zl))) {
					return e.rcChunk(zl, ts), true, nil
				}
				return e.chunk(zl, ts), true, nil
			}
		}
	}
	if packedLen < 0 {
		e.body = e.appendBody(e.body[:0], ts, vs, valueDod, true)
	}
	if rcLen >= 0 { // it pays against packed, checked above
		return e.rcChunk(dst, ts), true, nil
	}
	dst = append(dst, hdr)
	dst = append(dst, e.body...)
	return e.chunk(dst, ts), true, nil
}

func (e *DecimalEncoder) chunk(data []byte, ts []int64) Chunk {
	return Chunk{Enc: EncDecimal, NumSamples: len(ts), MinT: ts[0], MaxT: ts[len(ts)-1], Data: data}
}

// compress appends the header byte, the raw length and the zstd frame of e.raw
// without its magic to dst[:0].
func (e *DecimalEncoder) compress(dst []byte, hdr byte) ([]byte, error) {
	if e.zenc == nil && e.zerr == nil {
		// CRC off: the record's CRC32C covers the payload. Single segment:
		// the frame header then carries no window descriptor. Level
		// "default": compaction of a day of node data (pipeline
		// BenchmarkBlockBytes) ran at 22.8 MB/s against 18.75 with
		// "better", for 0.3616 B/sample against 0.3550 (+1.9 %); "fastest"
		// was no faster there (docs/COMPRESSION.md).
		e.zenc, e.zerr = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(false),
			zstd.WithSingleSegment(true),
			zstd.WithZeroFrames(true),
			zstd.WithLowerEncoderMem(true))
	}
	if e.zerr != nil {
		return nil, fmt.Errorf("chunkstore: decimal encode: zstd encoder: %w", e.zerr)
	}
	dst = append(dst[:0], hdr)
	dst = binary.AppendUvarint(dst, uint64(len(e.raw)))
	start := len(dst)
	dst = e.zenc.EncodeAll(e.raw, dst)
	if len(dst) < start+len(zstdMagic) || [4]byte(dst[start:start+4]) != zstdMagic {
		return nil, fmt.Errorf("BUG: chunkstore: zstd frame without magic")
	}
	copy(dst[start:], dst[start+4:])
	return dst[:len(dst)-4], nil
}

// decimalOf returns m with bits(float64(m) / 10^exp) == bits(v), if there
// is one. It only tries m = round(v * 10^exp); the check is exact, so a
// miss only costs compression.
func decimalOf(v float64, exp int) (int64, bool) {
	m := math.Round(v * pow10[exp])
	// NaN fails both comparisons; ±Inf and out-of-range products fail one.
	if !(m >= -(1<<63) && m < 1<<63) {
		return 0, false
	}
	mi := int64(m)
	return mi, math.Float64bits(float64(mi)/pow10[exp]) == math.Float64bits(v)
}

// scale picks the chunk's exponent and model, fills e.ms, e.corr and
// e.exc, and reports false when the chunk has too many exceptions to be
// worth encoding this way.
//
// First the exact model: the smallest exponent at which every decimal
// value is exactly m / 10^e, raised as values need more digits. Values
// computed by float arithmetic (x/1000/1000, x*0.001: 19.743586999999998)
// need e of 15 or more or fit no e at all; for such chunks the near model
// is also costed at every smaller e: m = round(v * 10^e) plus a small
// correction in units in the last place, and the cheaper one wins.
func (e *DecimalEncoder) scale(vs []float64) (int, bool) {
	n := len(vs)
	limit := n/8 + 1
	if e.noGiveUp {
		limit = n
	}
	exp, misses := 0, 0
	prev := uint64(1) // != bits of vs[0]
	for _, v := range vs {
		vb := math.Float64bits(v)
		if vb == prev {
			continue // long runs of equal values are the common case
		}
		prev = vb
		if _, ok := decimalOf(v, exp); ok {
			continue
		}
		found := false
		for x := exp + 1; x <= decMaxExp; x++ {
			if _, ok := decimalOf(v, x); ok {
				exp, found = x, true
				break
			}
		}
		if !found {
			if misses++; misses > limit {
				break
			}
		}
	}
	bestExp, bestNear := exp, false
	best := uint64(math.MaxUint64)
	// filled says that e.ms, e.corr and e.exc hold the best model's
	// complete fill, so that it need not be redone (the common case: one
	// exact fill and no near model to cost).
	filled := false
	if misses <= limit {
		best = e.fill(vs, exp, false, best, limit)
		filled = best != math.MaxUint64
	}
	if misses > 0 || exp > decNearFrom {
		top := exp
		if misses > limit {
			top = decMaxExp
		}
		for x := 0; x <= top; x++ {
			c := e.fill(vs, x, true, best, limit)
			if c < best {
				best, bestExp, bestNear = c, x, true
			}
			filled = c != math.MaxUint64 && c == best && bestNear && bestExp == x
		}
	}
	if best == math.MaxUint64 {
		return 0, false
	}
	if !filled {
		e.fill(vs, bestExp, bestNear, math.MaxUint64, n)
	}
	e.near = bestNear
	return bestExp, true
}

// fill scales vs at exponent exp (with ULP corrections when near) into
// e.ms, e.corr and e.exc and returns an estimate of the encoded bits; it
// stops early, returning MaxUint64, once the estimate reaches stop or the
// exceptions exceed maxExc.
func (e *DecimalEncoder) fill(vs []float64, exp int, near bool, stop uint64, maxExc int) uint64 {
	e.ms, e.corr, e.exc = e.ms[:0], e.corr[:0], e.exc[:0]
	p := pow10[exp]
	var last int64
	cost := uint64(0)
	for i, v := range vs {
		vb := math.Float64bits(v)
		mf := math.Round(v * p)
		m, d, ok := int64(0), int64(0), false
		if mf >= -(1<<63) && mf < 1<<63 {
			m = int64(mf)
			d = int64(vb - math.Float64bits(float64(m)/p))
			ok = d == 0 || (near && d >= -decMaxCorr && d <= decMaxCorr)
		}
		if !ok {
			e.exc = append(e.exc, i)
			m, d = last, 0
			cost += 8 * (decExceptionSize + 1)
			if len(e.exc) > maxExc {
				return math.MaxUint64
			}
		}
		cost += uint64(bits.Len64(zigzag(m-last))) + uint64(bits.Len64(zigzag(d)))
		if cost >= stop {
			return math.MaxUint64
		}
		e.ms = append(e.ms, m)
		e.corr = append(e.corr, d)
		last = m
	}
	return cost
}

func zigzag(x int64) uint64 { return uint64(x<<1) ^ uint64(x>>63) }

func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// streams fills e.tz with the timestamp dods (from the third sample on),
// e.vz with the value stream in the model that packs smaller (divided by
// their gcd, e.gcd), and reports whether that model is delta-of-delta.
func (e *DecimalEncoder) streams(ts []int64) bool {
	n := len(ts)
	e.tz, e.vz = e.tz[:0], e.vz[:0]
	if !e.valuesOnly { // a values-only body has no timestamp stream
		for i := 2; i < n; i++ {
			e.tz = append(e.tz, zigzag((ts[i]-ts[i-1])-(ts[i-1]-ts[i-2])))
		}
	}
	ms := e.ms
	// Signed deltas from the second value, dods from the third, both in
	// vs (deltas first); the winner is divided and zigzagged into vz.
	e.vs = e.vs[:0]
	for i := 1; i < n; i++ {
		e.vs = append(e.vs, ms[i]-ms[i-1])
	}
	for i := 2; i < n; i++ {
		e.vs = append(e.vs, (ms[i]-ms[i-1])-(ms[i-1]-ms[i-2]))
	}
	deltas := e.vs[:max(n-1, 0)]
	var dods []int64
	if n >= 3 {
		dods = e.vs[n-1:]
	}
	win, g := deltas, gcdOf(deltas)
	valueDod := false
	e.gDelta, e.gDod = g, 1
	if n >= 3 {
		gd := gcdOf(dods)
		e.gDod = gd
		// The dod model stores the first delta in the header instead.
		if packedBitsDiv(dods, gd)+8*uint64(varintLen(ms[1]-ms[0])) < packedBitsDiv(deltas, g) {
			win, g, valueDod = dods, gd, true
		}
	}
	e.gcd = g
	if g == 1 {
		for _, d := range win {
			e.vz = append(e.vz, zigzag(d))
		}
	} else {
		dv := newExactDiv(g)
		for _, d := range win {
			e.vz = append(e.vz, zigzag(dv.div(d)))
		}
	}
	e.cz = e.cz[:0]
	if e.near {
		for _, d := range e.corr {
			e.cz = append(e.cz, zigzag(d))
		}
	}
	return valueDod
}

// gcdOf returns the greatest common divisor of |vals|, or 1 when it is 0
// (all zero) or above decMaxGCD.
func gcdOf(vals []int64) uint64 {
	g := uint64(0)
	for _, v := range vals {
		a := uint64(v)
		if v < 0 {
			a = -a
		}
		for a != 0 {
			g, a = a, g%a
		}
		if g == 1 {
			return 1
		}
	}
	if g == 0 || g > decMaxGCD {
		return 1
	}
	return g
}

// exactDiv divides int64s that are exact multiples of g (g is their gcd)
// by a shift and a multiplication by the inverse of g's odd part modulo
// 2^64, instead of a 64-bit division per value (which was a quarter of the
// encoder's time). For an exact multiple v of g the result is v / g, in
// two's complement as for negative v.
type exactDiv struct {
	shift uint
	inv   uint64
}

func newExactDiv(g uint64) exactDiv {
	k := uint(bits.TrailingZeros64(g))
	odd := g >> k
	inv := odd // correct to 3 bits (odd·odd ≡ 1 mod 8); each step doubles them
	for range 5 {
		inv *= 2 - odd*inv
	}
	return exactDiv{shift: k, inv: inv}
}

func (d exactDiv) div(v int64) int64 { return int64(uint64(v>>d.shift) * d.inv) }

// packedBitsDiv is packedBits of the zigzagged vals / g, plus the bytes
// that announce g.
func packedBitsDiv(vals []int64, g uint64) uint64 {
	total := uint64(0)
	if g > 1 {
		total = 8 * uint64(uvarintLen(g))
	}
	dv := newExactDiv(g)
	for len(vals) > 0 {
		grp := vals[:min(decGroup, len(vals))]
		vals = vals[len(grp):]
		var or uint64
		if g == 1 {
			for _, v := range grp {
				or |= zigzag(v)
			}
		} else {
			for _, v := range grp {
				or |= zigzag(dv.div(v))
			}
		}
		total += decWidthBits + uint64(len(grp))*uint64(bits.Len64(or))
	}
	return total
}

// appendBody appends the body (§EncDecimal payload, Body): header varints,
// extension bits, exceptions and divisor when present, then the two
// streams packed or as uvarints.
func (e *DecimalEncoder) appendBody(dst []byte, ts []int64, vs []float64, valueDod, packed bool) []byte {
	n := len(ts)
	if n >= 2 && !e.valuesOnly {
		dst = binary.AppendVarint(dst, ts[1]-ts[0])
	}
	dst = e.appendFields(dst, vs, e.ms[0], valueDod, e.gcd)
	tz := e.tz
	if e.valuesOnly {
		tz = nil
	}
	if packed {
		dst = appendPacked(dst, tz)
		dst = appendPacked(dst, e.vz)
		return appendPacked(dst, e.cz)
	}
	for _, u := range tz {
		dst = binary.AppendUvarint(dst, u)
	}
	for _, u := range e.vz {
		dst = binary.AppendUvarint(dst, u)
	}
	for _, u := range e.cz {
		dst = binary.AppendUvarint(dst, u)
	}
	return dst
}

// appendFields appends the body fields from m0 to the divisor
// (§EncDecimal payload, Body): m0 (the first scaled value, or the level
// model's base), the first value delta for the dod model, the extension
// bits, the exceptions of e.exc and the divisor g when above 1.
func (e *DecimalEncoder) appendFields(dst []byte, vs []float64, m0 int64, valueDod bool, g uint64) []byte {
	dst = binary.AppendVarint(dst, m0)
	if valueDod {
		dst = binary.AppendVarint(dst, e.ms[1]-e.ms[0])
	}
	ext := uint64(0)
	if len(e.exc) > 0 {
		ext |= decExtExceptions
	}
	if g > 1 {
		ext |= decExtGCD
	}
	if e.near {
		ext |= decExtULP
	}
	if ext != 0 {
		dst = binary.AppendUvarint(dst, ext)
	}
	if len(e.exc) > 0 {
		dst = binary.AppendUvarint(dst, uint64(len(e.exc)))
	}
	prev := -1
	for _, i := range e.exc {
		dst = binary.AppendUvarint(dst, uint64(i-prev-1))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(vs[i]))
		prev = i
	}
	if g > 1 {
		dst = binary.AppendUvarint(dst, g)
	}
	return dst
}

// appendPacked appends vals bit-packed: per group of up to decGroup values
// a 7-bit width w (0..64) then each value in w bits, MSB first; the stream
// ends with zero padding to a byte boundary.
func appendPacked(dst []byte, vals []uint64) []byte {
	var w bitAppender
	w.b = dst
	for len(vals) > 0 {
		g := vals[:min(decGroup, len(vals))]
		vals = vals[len(g):]
		var or uint64
		for _, v := range g {
			or |= v
		}
		width := uint(bits.Len64(or))
		w.write(uint64(width), decWidthBits) // 7-bit group width
		if width == 0 {
			continue
		}
		for _, v := range g {
			w.write(v, width) // width-bit value
		}
	}
	return w.flush()
}

// bitAppender writes bits MSB first. acc holds the n (< 8 between calls)
// bits not yet appended as a byte, in its low bits.
type bitAppender struct {
	b   []byte
	acc uint64
	n   uint
}

// write appends the low k (0..64) bits of u; bits above k must be zero.
func (w *bitAppender) write(u uint64, k uint) {
	if k > 32 {
		w.write(u>>32, k-32)
		u &= 1<<32 - 1
		k = 32
	}
	w.acc = w.acc<<k | u
	w.n += k
	for w.n >= 8 {
		w.n -= 8
		w.b = append(w.b, byte(w.acc>>w.n))
	}
}

// flush pads the last byte with zero bits and returns the buffer.
func (w *bitAppender) flush() []byte {
	if w.n > 0 {
		w.b = append(w.b, byte(w.acc<<(8-w.n)))
	}
	w.acc, w.n = 0, 0
	return w.b
}
