package chunkstore

import (
	"math/bits"
)

// The adaptive binary range coder and the integer model of range-coded
// streams (docs/format/chunks.md §EncDecimalSharedRC payload, Range-coded
// section), used by the EncDecimalSharedRC payload; its constants are in
// decimal_format.go.
//
// The coder is LZMA's: a 32-bit range kept at or above 2^24, 12-bit
// probabilities of a 0 bit that move a fraction of the way towards each
// coded bit (1/4 at first, 1/16 from the 13th bit on: rcRamp), carries
// propagated on write. An entry u (a zigzagged residual) is coded as its
// bit length l = bits.Len64(u) around the stream's most frequent length
// (rcModel), then the rcTopBits bits under its leading one as adaptive
// decisions in a tree of their own per l, and the remaining low bits
// plainly, in a bit-packed area after the range-coded bytes (they are
// close to uniform; reading them plainly is faster than decoding them one
// decision at a time). docs/COMPRESSION.md has the measurements behind
// each constant.

// rcModel is the adaptive state of one stream. An entry's bit length l is
// coded relative to the stream's centre c (its most frequent bit length,
// stored before the range-coded bytes): one decision "l = c"; if not, one
// "l > c" (left out where only one side is possible), then unary steps
// away from c, each step its own decision, ending at the side's last
// length without a decision. Most entries take one to three decisions
// instead of a 7-level tree's seven, at the same adaptivity.
type rcModel struct {
	eq, gt rcProb
	up, dn [rcMaxLen]rcProb
	top    [rcMaxLen + 1][1 << rcTopBits]rcProb
}

func (m *rcModel) reset() {
	m.eq, m.gt = rcProb{p: rcProbInit}, rcProb{p: rcProbInit}
	for i := range m.up {
		m.up[i], m.dn[i] = rcProb{p: rcProbInit}, rcProb{p: rcProbInit}
	}
	for i := range m.top {
		for j := range m.top[i] {
			m.top[i][j] = rcProb{p: rcProbInit}
		}
	}
}

// rcCentre is the most frequent bit length of us (the smallest of ties).
func rcCentre(us []uint64) uint {
	var hist [rcMaxLen + 1]int
	for _, u := range us {
		hist[bits.Len64(u)]++
	}
	c := 0
	for l, k := range hist {
		if k > hist[c] {
			c = l
		}
	}
	return uint(c)
}

// rcProb is an adaptive probability of a 0 bit (p, 12 bits, always in
// 1..4095) and the number of bits it has seen (n, saturating).
type rcProb struct {
	p uint16
	n uint8
}

func (q *rcProb) update(b uint) {
	sh := rcRamp[q.n]
	if int(q.n) < len(rcRamp)-1 {
		q.n++
	}
	if b == 0 {
		q.p += (rcProbOne - q.p) >> sh
	} else {
		q.p -= q.p >> sh
	}
}

// rcEncoder writes a range-coded section: the range-coded bytes in out,
// the plain bits in plain.
type rcEncoder struct {
	low       uint64
	rng       uint32
	cache     byte
	cacheSize int64
	first     bool // the first byte shifted out is always 0 and not stored
	out       []byte
	plain     bitAppender
	m         rcModel
}

func (e *rcEncoder) init() {
	e.low, e.rng, e.cache, e.cacheSize, e.first = 0, 0xFFFFFFFF, 0, 1, true
	e.out = e.out[:0]
	e.plain.b, e.plain.acc, e.plain.n = e.plain.b[:0], 0, 0
}

func (e *rcEncoder) shiftLow() {
	if uint32(e.low) < 0xFF000000 || e.low>>32 != 0 {
		carry := byte(e.low >> 32)
		temp := e.cache
		for {
			if e.first {
				e.first = false // the coder starts with low = 0: this byte is 0
			} else {
				e.out = append(e.out, temp+carry)
			}
			temp = 0xFF
			e.cacheSize--
			if e.cacheSize == 0 {
				break
			}
		}
		e.cache = byte(e.low >> 24)
	}
	e.cacheSize++
	e.low = uint64(uint32(e.low) << 8)
}

// bit codes one binary decision b with the adaptive probability p
// (LZMA's encodeBit) and adapts p.
func (e *rcEncoder) bit(p *rcProb, b uint) {
	bound := (e.rng >> rcProbBits) * uint32(p.p)
	if b == 0 {
		e.rng = bound
	} else {
		e.low += uint64(bound)
		e.rng -= bound
	}
	p.update(b)
	for e.rng < rcTop {
		e.rng <<= 8
		e.shiftLow()
	}
}

// finish flushes the coder: the section is then out and plain.b.
// The decoder reads zero bytes past the end of the range-coded bytes, so
// the flush picks the value in [low, low+range) with the most trailing
// zero bits and the trailing zero bytes are left out (one byte is always
// kept: a length of 0 is the empty section). That saves 2 to 3 of the 4
// bytes a plain flush writes.
func (e *rcEncoder) finish() {
	hi := e.low + uint64(e.rng) - 1
	for k := 32; k > 0; k-- {
		mask := uint64(1)<<k - 1
		if x := (e.low + mask) &^ mask; x <= hi {
			e.low = x
			break
		}
	}
	for range 5 {
		e.shiftLow()
	}
	for len(e.out) > 1 && e.out[len(e.out)-1] == 0 {
		e.out = e.out[:len(e.out)-1]
	}
	e.plain.flush()
}

// stream codes the entries of one stream, with a fresh model, around
// the centre c.
func (e *rcEncoder) stream(us []uint64, c uint) {
	m := &e.m
	m.reset()
	for _, u := range us {
		l := uint(bits.Len64(u))
		switch {
		case l == c:
			e.bit(&m.eq, 0)
		case l > c:
			e.bit(&m.eq, 1)
			if c > 0 {
				e.bit(&m.gt, 1)
			}
			// Steps up from c+1; the last length needs no decision.
			for k := c + 1; k < rcMaxLen; k++ {
				if k == l {
					e.bit(&m.up[k-c-1], 0)
					break
				}
				e.bit(&m.up[k-c-1], 1)
			}
		default:
			e.bit(&m.eq, 1)
			if c < rcMaxLen {
				e.bit(&m.gt, 0)
			}
			for k := c - 1; k > 0; k-- {
				if k == l {
					e.bit(&m.dn[c-1-k], 0)
					break
				}
				e.bit(&m.dn[c-1-k], 1)
			}
		}
		if l < 2 {
			continue
		}
		w := l - 1 // bits under the leading one
		k := min(w, rcTopBits)
		tp := &m.top[l]
		node := uint(1)
		for i := int(w) - 1; i >= int(w-k); i-- {
			b := uint(u>>uint(i)) & 1
			e.bit(&tp[node], b)
			node = node<<1 | b
		}
		if rest := w - k; rest > 0 {
			e.plain.write(u&(1<<rest-1), rest)
		}
	}
}

// rcDecoder reads a range-coded section.
type rcDecoder struct {
	code, rng uint32
	b         []byte // range-coded bytes not yet read
	plain     []byte
	pbit      uint // bits of plain read
	m         rcModel
}

// init starts decoding the range-coded bytes rc, whose plain bits are pl.
func (d *rcDecoder) init(rc, pl []byte) {
	d.rng, d.code = 0xFFFFFFFF, 0
	d.b, d.plain, d.pbit = rc, pl, 0
	for range 4 {
		d.code = d.code<<8 | uint32(d.next())
	}
}

// next returns the next range-coded byte; past the end, 0 (the encoder
// leaves trailing zero bytes out).
func (d *rcDecoder) next() byte {
	if len(d.b) == 0 {
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *rcDecoder) bit(p *rcProb) uint {
	bound := (d.rng >> rcProbBits) * uint32(p.p)
	var b uint
	if d.code < bound {
		d.rng = bound
	} else {
		d.code -= bound
		d.rng -= bound
		b = 1
	}
	p.update(b)
	for d.rng < rcTop {
		d.rng <<= 8
		d.code = d.code<<8 | uint32(d.next())
	}
	return b
}

// stream decodes len(out) entries of one stream into out, with a fresh
// model, around the centre c (at most 64). It reports false when the plain
// bits run out (corruption).
func (d *rcDecoder) stream(out []uint64, c uint) bool {
	m := &d.m
	m.reset()
	for j := range out {
		l := c
		if d.bit(&m.eq) == 1 {
			up := c == 0 || (c < rcMaxLen && d.bit(&m.gt) == 1)
			if up {
				l = c + 1
				for l < rcMaxLen && d.bit(&m.up[l-c-1]) == 1 {
					l++
				}
			} else {
				l = c - 1
				for l > 0 && d.bit(&m.dn[c-1-l]) == 1 {
					l--
				}
			}
		}
		if l < 2 {
			out[j] = uint64(l)
			continue
		}
		w := l - 1
		k := min(w, rcTopBits)
		tp := &m.top[l]
		node := uint(1)
		for range k {
			node = node<<1 | d.bit(&tp[node])
		}
		u := uint64(node) // the leading one and the k modelled bits
		if rest := w - k; rest > 0 {
			if d.pbit+rest > uint(len(d.plain))*8 {
				return false
			}
			u = u<<rest | bitsAt(d.plain, d.pbit, rest)
			d.pbit += rest
		}
		out[j] = u
	}
	return true
}
