package chunkstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// decimalState holds an Iterator's decoded EncDecimal chunk. It is kept
// across Resets so that steady-state iteration reuses its buffers.
type decimalState struct {
	// ts is the decoded timestamps: tsBuf, or the chunk's shared column
	// itself (read only, never appended to).
	ts    []int64
	tsBuf []int64
	vs    []uint64 // float64 bits
	tz    []uint64 // scratch: zigzagged stream values
	vz    []uint64
	cz    []uint64
	frame []byte // scratch: zstd frame with its magic restored
	raw   []byte // scratch: decompressed body
	// excIdx, excBits: the exceptions read from the body.
	excIdx  []int
	excBits []uint64
	// rcd decodes range-coded sections (EncDecimalSharedRC).
	rcd *rcDecoder
	// staleOnly: decode timestamps and exceptions only; every other value
	// is 0 (Iterator.SetStaleOnly).
	staleOnly bool
	// first is the index of the first sample at or after the from of
	// the last decode: vs holds values from there on only (the entries
	// before it are unspecified).
	first int
}

// zstdDecoder is shared by every iterator: DecodeAll is safe for
// concurrent use, and one decoder per iterator would cost its window
// buffers per iterator. Created on first use; immutable afterwards.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(decMaxRawBytes),
		// DecodeAll never grows dst beyond its capacity, which the
		// decoder sets to the checked raw length.
		zstd.WithDecodeAllCapLimit(true))
})

// resetDecimal decodes the EncDecimal chunk c into it.dec, the values from
// the first sample at or after from on. On damage the iterator fails with
// a *CorruptionError (Offset within c.Data).
func (it *Iterator) resetDecimal(c Chunk, from int64) {
	if it.dec == nil {
		it.dec = new(decimalState)
	}
	it.decimal = true
	it.dec.staleOnly = it.staleOnly
	if err := it.dec.decodeWith(c, c.Data, nil, from, false); err != nil {
		it.fail(err)
		return
	}
	it.startDecimal()
}

// startDecimal positions the iterator on a decoded chunk before its first
// sample at or after the decode's from.
func (it *Iterator) startDecimal() {
	it.start, it.read = it.dec.first, it.dec.first
	if it.read >= len(it.dec.ts) {
		it.done = true
	}
}

// nextDecimal is Next for EncDecimal chunks.
func (it *Iterator) nextDecimal() bool {
	d := it.dec
	if it.read >= len(d.ts) {
		it.done = true
		return false
	}
	it.t, it.v = d.ts[it.read], d.vs[it.read]
	it.read++
	return true
}

// Decoded returns the samples that Next would return next, as columns
// (timestamps and float64 bits), when the chunk is decoded whole (the
// decimal encodings); nil for EncXOR, which decodes sample by sample. The
// slices are read only and valid until the next Reset. Range evaluation
// reads windows from them in place instead of sample by sample.
func (it *Iterator) Decoded() (ts []int64, vs []uint64) {
	if !it.decimal || it.done {
		return nil, nil
	}
	return it.dec.ts[it.read:], it.dec.vs[it.read:]
}

// Skip advances past the first k samples Decoded returned (0 <= k <=
// their number): the last of them becomes the current sample (At).
func (it *Iterator) Skip(k int) {
	if k <= 0 || !it.decimal || it.done {
		return
	}
	it.read += k
	it.t, it.v = it.dec.ts[it.read-1], it.dec.vs[it.read-1]
}

// seekDecimal is SeekTo over a decoded chunk: a binary search.
func (it *Iterator) seekDecimal(t int64) bool {
	ts := it.dec.ts
	i := it.read + sort.Search(len(ts)-it.read, func(k int) bool { return ts[it.read+k] >= t })
	if i >= len(ts) {
		it.read = len(ts)
		it.done = true
		return false
	}
	it.read = i + 1
	it.t, it.v = ts[i], it.dec.vs[i]
	return true
}

// decodeWith decodes the EncDecimal payload data of c. With shared != nil
// the payload is values-only (EncDecimalShared: no first delta, no T
// stream) and shared, whose length, first and last entries the caller has
// checked against c, supplies the timestamps. Every byte is read and
// checked, but values are converted only from d.first, the first sample
// at or after from, on.
func (d *decimalState) decodeWith(c Chunk, data []byte, shared []int64, from int64, rc bool) error {
	d.tsBuf, d.vs = d.tsBuf[:0], d.vs[:0]
	d.ts = d.tsBuf
	d.first = 0
	n := c.NumSamples
	if n < 0 || n > MaxDecimalSamples {
		return corruptf(0, fmt.Errorf("%w: %d samples, limit %d", errCountTooLarge, n, MaxDecimalSamples))
	}
	if n == 0 {
		if len(data) != 0 {
			return corruptf(0, errEmptyPayload)
		}
		return nil
	}
	if len(data) < 1 {
		return corruptf(0, fmt.Errorf("decimal header: %w", errTruncated))
	}
	hdr := data[0]
	exp := int(hdr >> decExpShift)
	if exp > decMaxExp {
		return corruptf(0, fmt.Errorf("decimal exponent %d > %d", exp, decMaxExp))
	}
	packed := hdr&decFlagZstd == 0
	valueDod := hdr&decFlagValueDod != 0
	level := false
	if rc {
		// EncDecimalSharedRC: bit 0 is the level model; the fields are
		// stored as in the packed layout, the streams range-coded. n is
		// bounded by the shared column the caller checked.
		level, packed = hdr&decFlagLevel != 0, true
		if level && valueDod {
			return corruptf(0, fmt.Errorf("decimal header %#02x: level and dod models", hdr))
		}
	}
	body, base := data[1:], 1
	if rc {
		// Nothing to check before the section (rcSection bounds it).
	} else if packed {
		// Each stream of n-2 values spends at least 7 bits per 64 values:
		// bound n by the payload before allocating anything for it.
		if uint64(n) > 2+uint64(len(body))*decGroup*8/decWidthBits {
			return corruptf(0, fmt.Errorf("%w: %d samples in %d bytes", errCountTooLarge, n, len(data)))
		}
	} else {
		rawLen, k := binary.Uvarint(body)
		if k <= 0 {
			return corruptf(base, fmt.Errorf("decimal raw length: %w", varintErr(k)))
		}
		// Both uvarint streams take at least one byte per value and at
		// most 10; an exception takes at most 18 bytes, the header 30.
		// A zstd block of at most 128 KiB takes at least 4 bytes (an RLE
		// block), so a frame cannot expand by more than 32768x: a tiny
		// payload cannot make the decoder allocate megabytes.
		// Values-only bodies hold one stream of at least n-2 entries.
		minPerSample := uint64(2)
		if shared != nil {
			minPerSample = 1
		}
		if rawLen > decMaxRawBytes || uint64(n) > 2+rawLen/minPerSample || rawLen > 30+38*uint64(n) ||
			rawLen > decMaxZstdRatio*uint64(len(body)) {
			return corruptf(base, fmt.Errorf("%w: %d samples, raw body of %d bytes", errCountTooLarge, n, rawLen))
		}
		base += k
		zd, err := zstdDecoder()
		if err != nil {
			return fmt.Errorf("chunkstore: zstd decoder: %w", err)
		}
		d.frame = append(append(d.frame[:0], zstdMagic[:]...), body[k:]...)
		if cap(d.raw) < int(rawLen) {
			d.raw = make([]byte, 0, rawLen)
		}
		raw, err := zd.DecodeAll(d.frame, d.raw[:0:rawLen])
		if err != nil {
			return corruptf(base, fmt.Errorf("decimal zstd body: %w", err))
		}
		if uint64(len(raw)) != rawLen {
			return corruptf(base, fmt.Errorf("decimal zstd body: %d bytes, header says %d", len(raw), rawLen))
		}
		if cap(raw) > cap(d.raw) {
			d.raw = raw[:0]
		}
		// Offsets inside the decompressed body are reported at the frame.
		body = raw
	}

	r := byteReader{b: body, base: base, packed: packed}
	var t1d, m0, dm1 int64
	if n >= 2 && shared == nil {
		t1d = r.varint("first delta")
	}
	m0 = r.varint("first value")
	if valueDod && n >= 2 {
		dm1 = r.varint("first value delta")
	}
	ext, numExc, g := uint64(0), uint64(0), uint64(1)
	if hdr&decFlagExtended != 0 {
		ext = r.uvarint("extension bits")
		if r.err == nil && (ext == 0 || ext&^decExtKnown != 0) {
			return corruptf(r.off(), fmt.Errorf("decimal extension bits %#x", ext))
		}
	}
	if ext&decExtExceptions != 0 {
		numExc = r.uvarint("exception count")
		if r.err == nil && (numExc == 0 || numExc > uint64(n)) {
			return corruptf(r.off(), fmt.Errorf("%d exceptions in %d samples", numExc, n))
		}
	}
	d.excIdx, d.excBits = d.excIdx[:0], d.excBits[:0]
	idx := -1
	for i := 0; i < int(numExc) && r.err == nil; i++ {
		gap := r.uvarint("exception index")
		if r.err == nil && gap >= uint64(n-idx-1) {
			return corruptf(r.off(), fmt.Errorf("exception index beyond sample %d", n))
		}
		idx += int(gap) + 1
		d.excIdx = append(d.excIdx, idx)
		d.excBits = append(d.excBits, r.uint64LE("exception value"))
	}
	if ext&decExtGCD != 0 {
		g = r.uvarint("value divisor")
		if r.err == nil && (g < 2 || g > decMaxGCD) {
			return corruptf(r.off(), fmt.Errorf("decimal value divisor %d not in [2, 2^62]", g))
		}
	}
	d.tz = d.tz[:0]
	if shared == nil {
		d.tz = r.stream(d.tz, max(n-2, 0), "timestamps")
	}
	if d.staleOnly {
		// Stale markers (NaNs) are never decimal, so they are
		// exceptions, read above; the value streams that follow and
		// the trailing bytes are not read in this mode. The
		// timestamps still end at MaxT.
		if r.err != nil {
			return r.err
		}
		if err := d.timestamps(c, data, shared, t1d); err != nil {
			return err
		}
		d.first = firstAtOrAfter(d.ts, from)
		d.vs = slices.Grow(d.vs[:0], n)[:n]
		clear(d.vs)
		for i, k := range d.excIdx {
			d.vs[k] = d.excBits[i]
		}
		return nil
	}
	nv := max(n-1, 0)
	if valueDod {
		nv = max(n-2, 0)
	} else if level {
		nv = n
	}
	// pre V entries are integrated while parsing, without being stored:
	// with a shared column the first sample wanted is known before the
	// value stream is read, and the zstd layout's uvarints are parsed
	// sample by sample anyway. m and dm then hold the state after them.
	pre, m, dm := 0, m0, dm1
	gi := int64(g)
	if shared != nil && !packed && r.err == nil {
		if k := firstAtOrAfter(shared, from); valueDod {
			pre = min(max(k-2, 0), nv)
		} else {
			pre = min(max(k-1, 0), nv)
		}
		if pre > 0 {
			if valueDod {
				m += dm
			}
			var ok bool
			var used int
			used, m, dm, ok = integrateUvarints(r.b, pre, valueDod, gi, m, dm)
			r.b, r.read = r.b[used:], r.read+used
			if !ok {
				_, k := binary.Uvarint(r.b)
				return corruptf(r.off(), fmt.Errorf("values: %w", varintErr(k)))
			}
		}
	}
	if rc {
		nc := 0
		if ext&decExtULP != 0 {
			nc = n
		}
		r.rcSection(d, nv, nc)
	} else {
		d.vz = r.stream(d.vz[:0], nv-pre, "values")
		d.cz = d.cz[:0]
		if ext&decExtULP != 0 {
			d.cz = r.stream(d.cz, n, "corrections")
		}
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return corruptf(r.off(), errTrailing)
	}

	if err := d.timestamps(c, data, shared, t1d); err != nil {
		return err
	}

	// Values: integrate m, scale from the first sample wanted on, then
	// patch the corrections and exceptions there.
	k := firstAtOrAfter(d.ts, from)
	d.first = k
	vs := slices.Grow(d.vs[:0], n)[:n]
	d.vs = vs
	p := pow10[exp]
	div := exp != 0 // x / 1 == x: skip the division
	if level {
		// Entry i is sample i's distance from the base m0.
		for i, u := range d.vz[k:] {
			vs[k+i] = scaled(m0+unzigzag(u)*gi, p, div)
		}
	} else if valueDod {
		if n >= 2 {
			if pre == 0 {
				if k == 0 {
					vs[0] = scaled(m, p, div)
				}
				m += dm
				if k <= 1 {
					vs[1] = scaled(m, p, div)
				}
			}
			// Entry j of the stream is the dod of sample j+2; the
			// first pre were integrated while parsing.
			split := min(max(k-2-pre, 0), len(d.vz))
			for _, u := range d.vz[:split] {
				dm += unzigzag(u) * gi
				m += dm
			}
			out := vs[pre+split+2:]
			for j, u := range d.vz[split:] {
				dm += unzigzag(u) * gi
				m += dm
				out[j] = scaled(m, p, div)
			}
		} else if k == 0 {
			vs[0] = scaled(m, p, div)
		}
	} else {
		if k == 0 {
			vs[0] = scaled(m, p, div)
		}
		// Entry j is the delta of sample j+1; the prefix sums at once
		// (multiplication by g distributes over the wrapping sum).
		split := min(max(k-1-pre, 0), len(d.vz))
		var sum int64
		for _, u := range d.vz[:split] {
			sum += unzigzag(u)
		}
		m += sum * gi
		out := vs[pre+split+1:]
		for j, u := range d.vz[split:] {
			m += unzigzag(u) * gi
			out[j] = scaled(m, p, div)
		}
	}
	if k < len(d.cz) {
		for i, u := range d.cz[k:] {
			vs[k+i] += uint64(unzigzag(u)) // wrapping, as the encoder's difference
		}
	}
	for i, x := range d.excIdx {
		if x >= k {
			vs[x] = d.excBits[i]
		}
	}
	return nil
}

// integrateUvarints parses count value-stream uvarints from b and
// integrates them into m (and dm for the dod model) as decoding does; it
// returns the bytes read and false when b ends or a uvarint is bad first.
func integrateUvarints(b []byte, count int, dod bool, g, m, dm int64) (int, int64, int64, bool) {
	p := 0
	for range count {
		var u uint64
		if p < len(b) && b[p] < 0x80 {
			u = uint64(b[p])
			p++
		} else {
			x, k := binary.Uvarint(b[p:])
			if k <= 0 {
				return p, m, dm, false
			}
			u = x
			p += k
		}
		if dod {
			dm += unzigzag(u) * g
			m += dm
		} else {
			m += unzigzag(u) * g
		}
	}
	return p, m, dm, true
}

// scaled is bits(float64(m) / p), without the division when div is false
// (p = 1).
func scaled(m int64, p float64, div bool) uint64 {
	x := float64(m)
	if div {
		x /= p
	}
	return math.Float64bits(x)
}

// firstAtOrAfter returns the index of the first of the ascending ts at or
// after from (len(ts) when none is).
func firstAtOrAfter(ts []int64, from int64) int {
	if len(ts) == 0 || ts[0] >= from {
		return 0
	}
	return sort.Search(len(ts), func(i int) bool { return ts[i] >= from })
}

// timestamps fills d.ts: shared as it is, else MinT, the first delta t1d
// and the dods in d.tz. It checks that they end at c.MaxT.
func (d *decimalState) timestamps(c Chunk, data []byte, shared []int64, t1d int64) error {
	n := c.NumSamples
	// Timestamps: t0 is MinT, then the first delta, then dods.
	// A shared column is used in place: it is decoded once per group of
	// series (package block caches it), not copied per chunk.
	t := c.MinT
	if shared != nil {
		d.ts = shared
		t = shared[n-1]
	} else {
		d.tsBuf = append(slices.Grow(d.tsBuf, n), t)
	}
	if n >= 2 && shared == nil {
		delta := t1d
		t += delta
		d.tsBuf = d.tsBuf[:2+len(d.tz)]
		d.tsBuf[1] = t
		out := d.tsBuf[2:]
		for i, u := range d.tz {
			delta += unzigzag(u)
			t += delta
			out[i] = t
		}
	}
	if shared == nil {
		d.ts = d.tsBuf
	}
	if t != c.MaxT {
		return corruptf(len(data), fmt.Errorf("%w: got %d, want %d", errMaxTMismatch, t, c.MaxT))
	}
	return nil
}

// byteReader reads the body of an EncDecimal payload. Errors are sticky;
// once err is set every read returns zero.
type byteReader struct {
	b      []byte
	base   int // offset of b[0] within the payload, for errors
	read   int // bytes consumed from the original b
	packed bool
	err    error
}

func (r *byteReader) off() int {
	if r.packed {
		return r.base + r.read
	}
	return r.base // inside a zstd body: report the frame
}

func (r *byteReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	u, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = corruptf(r.off(), fmt.Errorf("%s: %w", what, varintErr(k)))
		return 0
	}
	r.b = r.b[k:]
	r.read += k
	return u
}

func (r *byteReader) varint(what string) int64 { return unzigzag(r.uvarint(what)) }

func (r *byteReader) uint64LE(what string) uint64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < decExceptionSize {
		r.err = corruptf(r.off(), fmt.Errorf("%s: %w", what, errTruncated))
		return 0
	}
	u := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[decExceptionSize:]
	r.read += decExceptionSize
	return u
}

// stream appends count stream values to dst: uvarints, or bit-packed groups
// ending on a byte boundary with zero padding.
func (r *byteReader) stream(dst []uint64, count int, what string) []uint64 {
	if r.err != nil {
		return dst
	}
	base := len(dst)
	dst = slices.Grow(dst, count)[:base+count]
	out := dst[base:]
	if !r.packed {
		p, ok := uvarints(r.b, out)
		r.b, r.read = r.b[p:], r.read+p
		if !ok {
			_, k := binary.Uvarint(r.b)
			r.err = corruptf(r.off(), fmt.Errorf("%s: %w", what, varintErr(k)))
		}
		return dst
	}
	used, off, err := unpackGroups(r.b, out)
	if err != nil {
		r.err = corruptf(r.base+r.read+off, fmt.Errorf("%s: %w", what, err))
		return dst
	}
	r.b = r.b[used:]
	r.read += used
	return dst
}

// uvarints fills out with uvarints read from b and returns the bytes
// read; false when b ends or holds a bad uvarint first (the bytes read
// are then those before it). Most entries are one byte: eight of them are
// checked with one load.
func uvarints(b []byte, out []uint64) (int, bool) {
	p, i := 0, 0
	for i < len(out) {
		if i+8 <= len(out) && p+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[p:])
			if w&0x8080808080808080 == 0 {
				o := out[i : i+8 : i+8]
				o[0], o[1], o[2], o[3] = w&0xff, w>>8&0xff, w>>16&0xff, w>>24&0xff
				o[4], o[5], o[6], o[7] = w>>32&0xff, w>>40&0xff, w>>48&0xff, w>>56
				i += 8
				p += 8
				continue
			}
		}
		if p < len(b) && b[p] < 0x80 {
			out[i] = uint64(b[p])
			i++
			p++
			continue
		}
		u, k := binary.Uvarint(b[p:])
		if k <= 0 {
			return p, false
		}
		out[i] = u
		i++
		p += k
	}
	return p, true
}

// unpackGroups fills out from the bit-packed stream at the start of b
// (§EncDecimal payload, Body: per group of up to decGroup entries a
// decWidthBits-bit width, then the entries MSB first; zero padding to a
// byte) and returns the bytes it takes. On damage it returns the byte
// offset of the bad field and the reason.
func unpackGroups(b []byte, out []uint64) (used, off int, err error) {
	total := uint(len(b)) * 8
	bp := uint(0) // bit position
	for len(out) > 0 {
		g := out[:min(len(out), decGroup)]
		out = out[len(g):]
		if bp+decWidthBits > total {
			return 0, int(bp >> 3), fmt.Errorf("group width: %w", errTruncated)
		}
		width := bitsAt(b, bp, decWidthBits)
		if width > 64 {
			return 0, int(bp >> 3), fmt.Errorf("group width %d > 64", width)
		}
		bp += decWidthBits
		w := uint(width)
		if w == 0 {
			clear(g)
			continue
		}
		// Check the group fits before decoding it.
		if end := bp + uint(len(g))*w; end > total || end < bp {
			return 0, int(bp >> 3), errTruncated
		}
		// Fast path: one 8-byte load per entry, which holds all of it
		// when w <= 57 (at most 7 bits of the first byte are before it),
		// for the entries that start at least 8 bytes before b's end;
		// the few after them (the end of the payload) one by one.
		fast := 0
		if w <= 57 && len(b) >= 8 {
			if lim := uint(len(b)-8) * 8; bp <= lim {
				fast = min(len(g), int((lim-bp)/w)+1)
			}
		}
		sh := 64 - w
		for i := range g[:fast] {
			x := binary.BigEndian.Uint64(b[bp>>3:])
			g[i] = x << (bp & 7) >> sh
			bp += w
		}
		for i := range g[fast:] {
			g[fast+i] = bitsAt(b, bp, w)
			bp += w
		}
	}
	if pad := (8 - bp&7) & 7; pad != 0 {
		if bitsAt(b, bp, pad) != 0 {
			return 0, int(bp >> 3), errBadPadding
		}
		bp += pad
	}
	return int(bp >> 3), 0, nil
}

// bitsAt returns the w (0..64) bits of b at bit position bp, MSB first;
// bp+w must not exceed len(b)*8.
func bitsAt(b []byte, bp, w uint) uint64 {
	if w == 0 {
		return 0
	}
	i := int(bp >> 3)
	var x uint64
	if i+8 <= len(b) {
		x = binary.BigEndian.Uint64(b[i:])
	} else {
		for k := range 8 {
			x <<= 8
			if i+k < len(b) {
				x |= uint64(b[i+k])
			}
		}
	}
	sh := bp & 7
	x <<= sh // the top 64-sh bits are b's
	if w <= 64-sh {
		return x >> (64 - w)
	}
	// The last 1..7 bits are in the ninth byte.
	rest := w - (64 - sh)
	return x>>(64-w) | uint64(b[i+8])>>(8-rest)
}
