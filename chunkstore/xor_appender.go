package chunkstore

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// Appender encodes samples into one EncXOR chunk.
//
// It is a concrete value type meant to be embedded in a head series: its
// state is 64 bytes on 64-bit platforms (one cache line; asserted by a test).
// The zero value is usable and starts an empty chunk with a nil buffer;
// Reset starts a chunk in a caller-supplied buffer. Owned by one goroutine;
// see the package doc for what a concurrent reader must copy.
//
// Append never fails: any int64 timestamp sequence (decreasing, equal,
// huge jumps) and any float64 bit pattern round-trip exactly. Rejecting
// out-of-order or duplicate samples is the caller's job, and so is cutting
// the chunk (see DefaultSamplesPerChunk); a chunk holds at most 2^32-1
// samples.
type Appender struct {
	// b is the payload so far; len(b) covers every bit written. Bits after
	// the last written bit in b[len(b)-1] are zero.
	b []byte
	// t is the last timestamp (ms); tDelta the last delta t[i]-t[i-1],
	// computed with wrapping int64 arithmetic.
	t, tDelta int64
	// minT is the first timestamp (ms).
	minT int64
	// v is the bit pattern of the last value.
	v uint64
	// n is the number of samples appended.
	n uint32
	// free is the number of unused low bits in b[len(b)-1] (0..7).
	free uint8
	// leading and trailing describe the current XOR window: the leading and
	// trailing zero counts of the last value written with a '11' control.
	// leading == noWindow means no window has been written yet.
	leading, trailing uint8
	// jittery is the timestamp context: false after a dod of 0 and before
	// the first dod (see dodBits).
	jittery bool
}

// Reset starts a new, empty chunk whose payload is written into dst[:0].
// The appender owns dst's capacity from now until the next Reset; with
// cap(dst) at least the final payload size plus 8 bytes, Append does not
// allocate. Passing nil is fine: the buffer then grows by append.
func (a *Appender) Reset(dst []byte) {
	*a = Appender{b: dst[:0], leading: noWindow}
}

// NumSamples returns the number of samples appended since the last Reset.
func (a *Appender) NumSamples() int { return int(a.n) }

// MinTime returns the first appended timestamp (ms), or 0 if there is none.
func (a *Appender) MinTime() int64 { return a.minT }

// MaxTime returns the last appended timestamp (ms), or 0 if there is none.
func (a *Appender) MaxTime() int64 { return a.t }

// Bytes returns the payload encoded so far. It aliases the appender's
// buffer: see the package doc for how long it stays valid.
func (a *Appender) Bytes() []byte { return a.b }

// Chunk returns a view of everything encoded so far. Data aliases the
// appender's buffer.
func (a *Appender) Chunk() Chunk {
	return Chunk{Enc: EncXOR, NumSamples: int(a.n), MinT: a.minT, MaxT: a.t, Data: a.b}
}

// Append adds one sample. See the type doc for what it accepts.
func (a *Appender) Append(t int64, v float64) {
	vb := math.Float64bits(v)
	switch a.n {
	case 0:
		// t0 is not in the payload: it is the chunk's MinT, which every
		// holder of a payload (Chunk, record) carries anyway. v0 is XOR-coded
		// against 0 with no window, which is cheaper than 64 raw bits for
		// every value with zero runs (0, small integers, round decimals).
		a.b = a.b[:0]
		a.free = 0
		a.v = 0
		a.leading = noWindow
		a.jittery = false
		a.minT = t
		a.appendValue(vb)
	case 1:
		// The first delta as a zigzag varint, its bytes in the bit stream.
		// Signed (not uvarint) so decreasing sequences round-trip too.
		d := t - a.t
		ux := uint64(d<<1) ^ uint64(d>>63)
		for ux >= 0x80 {
			a.writeBits(ux&0x7f|0x80, 8) // varint byte with continuation bit
			ux >>= 7
		}
		a.writeBits(ux, 8) // last varint byte
		a.tDelta = d
		a.appendValue(vb)
	default:
		d := t - a.t // wraps on overflow; the decoder wraps back.
		// The common cases, a steady interval and an unchanged value, are
		// one inlined bit each instead of a call.
		if dod := d - a.tDelta; dod == 0 && !a.jittery {
			a.writeZero() // steady '0': dod 0
		} else {
			a.appendDod(dod)
		}
		a.tDelta = d
		if vb == a.v {
			a.writeZero() // '0': same value
		} else {
			a.appendValue(vb)
		}
	}
	a.t = t
	a.v = vb
	a.n++
}

// appendDod writes one delta-of-delta in the current context and updates
// the context (see dodBits).
func (a *Appender) appendDod(dod int64) {
	if !a.jittery {
		if dod == 0 {
			a.writeZero() // steady '0': dod 0
			return
		}
		a.writeBits(1, 1) // steady '1': a bucket code follows
		a.jittery = true
	} else if dod == 0 {
		a.jittery = false
	}
	u := uint64(dod)
	switch {
	case -1<<(4-1) <= dod && dod < 1<<(4-1):
		a.writeBits(u&(1<<4-1), 1+4) // '0' then 4-bit dod
	case -1<<(6-1) <= dod && dod < 1<<(6-1):
		a.writeBits(0b10<<6|u&(1<<6-1), 2+6) // '10' then 6-bit dod
	case -1<<(9-1) <= dod && dod < 1<<(9-1):
		a.writeBits(0b110<<9|u&(1<<9-1), 3+9) // '110' then 9-bit dod
	case -1<<(14-1) <= dod && dod < 1<<(14-1):
		a.writeBits(0b1110<<14|u&(1<<14-1), 4+14) // '1110' then 14-bit dod
	case -1<<(32-1) <= dod && dod < 1<<(32-1):
		a.writeBits(0b11110<<32|u&(1<<32-1), 5+32) // '11110' then 32-bit dod
	default:
		a.writeBits(0b11111, 5) // '11111' then the full 64-bit dod
		a.writeBits(u, 64)
	}
}

// appendValue writes one XOR-compressed value against the previous one.
func (a *Appender) appendValue(vb uint64) {
	x := vb ^ a.v
	if x == 0 {
		a.writeZero() // '0': same value
		return
	}
	lead := uint8(bits.LeadingZeros64(x))
	trail := uint8(bits.TrailingZeros64(x))
	if lead > maxLeading {
		lead = maxLeading
	}
	if a.leading != noWindow && lead >= a.leading && trail >= a.trailing {
		sig := 64 - a.leading - a.trailing
		// Reuse the window only when it is not longer than opening a new
		// one: a wide stale window (e.g. after a counter reset) would
		// otherwise cost bits on every later sample. The decoder does not
		// care which branch the encoder picks.
		if int(sig) <= valLeadingBits+valSigBits+int(64-lead-trail) {
			if sig <= 62 {
				a.writeBits(0b10<<sig|x>>a.trailing, 2+uint(sig)) // '10' then sig bits
			} else {
				a.writeBits(0b10, 2) // '10'
				a.writeBits(x>>a.trailing, uint(sig))
			}
			return
		}
	}
	sig := 64 - lead - trail
	// '11', 5-bit leading count, 6-bit significant-bit count (64 stored as 0).
	a.writeBits(0b11<<11|uint64(lead)<<6|uint64(sig&63), 13)
	a.writeBits(x>>trail, uint(sig))
	a.leading, a.trailing = lead, trail
}

// writeZero appends one 0 bit: the common case of a steady interval
// (dod 0) and of an unchanged value. It is writeBits(0, 1) small enough to
// be inlined: the unused bits of the last byte are already zero, so a free
// bit costs only the count.
func (a *Appender) writeZero() {
	if a.free > 0 {
		a.free--
		return
	}
	a.b = append(a.b, 0)
	a.free = 7
}

// writeBits appends the low nbits (1..64) of u, most significant first.
// Bits of u above nbits must be zero.
func (a *Appender) writeBits(u uint64, nbits uint) {
	if a.free > 0 {
		free := uint(a.free)
		last := len(a.b) - 1
		if nbits <= free {
			a.b[last] |= byte(u << (free - nbits))
			a.free = uint8(free - nbits)
			return
		}
		nbits -= free
		a.b[last] |= byte(u >> nbits)
		a.free = 0
	}
	// Byte-aligned now. Write a whole big-endian word and keep only the
	// bytes that carry bits; the rest lands in spare capacity (never inside
	// a reader's len) and is overwritten by the next write.
	nbytes := (nbits + 7) >> 3
	a.b = binary.BigEndian.AppendUint64(a.b, u<<(64-nbits))
	a.b = a.b[:len(a.b)-8+int(nbytes)]
	a.free = uint8(nbytes*8 - nbits)
}
