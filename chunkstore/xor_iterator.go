package chunkstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// Iterator decodes a Chunk sample by sample.
//
// Owned by one goroutine. The zero value is an exhausted iterator; use
// [Chunk.Iterator] or Reset. Steady-state iteration does not allocate.
// Errors are sticky: once Next or SeekTo returned false, Err says whether the
// chunk ended cleanly (nil) or was damaged (*CorruptionError, errors.Is
// ErrCorrupt) or of an unknown encoding (ErrUnknownEncoding). A clean end
// is only reported after the last sample matched MaxT and the payload was
// consumed up to its zero padding, so truncated or garbage data never looks
// like a shorter valid chunk.
type Iterator struct {
	br bitReader
	// numSamples is how many samples the chunk claims; read how many have
	// been decoded so far (for a decimal chunk: the index of the next
	// sample, starting at start).
	numSamples, read int
	// start is the index of the first sample Next returns: 0, or for a
	// decimal chunk Reset with ResetFrom, the first at or after from.
	start      int
	minT, maxT int64
	// t, v are the current sample; tDelta the last delta (wrapping).
	t, tDelta int64
	v         uint64
	// leading, trailing is the current XOR window.
	leading, trailing uint8
	jittery           bool // timestamp context, as Appender.jittery
	done              bool
	err               error
	// decimal is set for an EncDecimal chunk, decoded whole by Reset into
	// dec, which survives Resets so its buffers are reused
	// (decimal_iterator.go).
	decimal bool
	dec     *decimalState
	// staleOnly: SetStaleOnly's mode, kept across Resets.
	staleOnly bool
	// xorFrom: ResetFrom's from for an EncXOR chunk, whose samples
	// before it Next skips.
	xorFrom int64
}

// SetStaleOnly sets the mode of the chunks the iterator is Reset to next
// (it is kept across Resets): with on, a reader that needs only the
// timestamps and which samples are stale markers (count, group, presence)
// gets every timestamp and every stale marker exactly, and an unspecified
// value (0 or the sample's) for every other sample. A decimal chunk then
// skips its value streams: its stale markers are exceptions, stored
// before them. EncXOR chunks, whose values and timestamps interleave, are
// decoded as before. Corruption inside the skipped streams is not
// detected in this mode.
func (it *Iterator) SetStaleOnly(on bool) { it.staleOnly = on }

// Reset positions the iterator before the first sample of c. It keeps no
// reference to a previous chunk.
func (it *Iterator) Reset(c Chunk) { it.ResetFrom(c, math.MinInt64) }

// ResetFrom is Reset for a reader that needs only the samples at or after
// from: the iterator is positioned before the first of them, and the
// samples before it are never returned (Next, SeekTo and Decoded start
// there). A decimal chunk is still read and checked whole (damage anywhere
// in it is an error, as with Reset), but only the values from there on
// are converted to floats, which is most of the cost of reading the end of
// a long chunk. An EncXOR chunk is decoded sample by sample from its start
// on the first Next, as with Reset followed by SeekTo(from).
func (it *Iterator) ResetFrom(c Chunk, from int64) {
	*it = Iterator{
		br:         bitReader{data: c.Data},
		numSamples: c.NumSamples,
		minT:       c.MinT,
		maxT:       c.MaxT,
		dec:        it.dec,
		staleOnly:  it.staleOnly,
	}
	if c.Enc == EncDecimal {
		it.resetDecimal(c, from)
		return
	}
	if c.Enc.Shared() {
		it.resetShared(c, from) // shared.go
		return
	}
	it.xorFrom = from
	if c.Enc != EncXOR {
		it.fail(fmt.Errorf("decode chunk with encoding %s: %w", c.Enc, ErrUnknownEncoding))
		return
	}
	if c.NumSamples < 0 {
		it.fail(corruptf(0, fmt.Errorf("negative sample count %d", c.NumSamples)))
		return
	}
	if c.NumSamples == 0 {
		if len(c.Data) != 0 {
			it.fail(corruptf(0, errEmptyPayload))
			return
		}
		it.done = true
	}
}

func (it *Iterator) fail(err error) {
	it.err = err
	it.done = true
}

// At returns the current sample. It is only meaningful after Next or SeekTo
// returned true.
func (it *Iterator) At() (t int64, v float64) {
	return it.t, math.Float64frombits(it.v)
}

// Err returns the sticky error, or nil.
func (it *Iterator) Err() error { return it.err }

// SeekTo advances to the first sample, at or after the current position, whose
// timestamp is >= t, and reports whether there is one. If the current sample
// already qualifies it does not move. SeekTo never moves backwards; on an
// exhausted or failed iterator it returns false.
//
// NB: the contract in issue 2 called this Seek, but go vet's stdmethods check
// reserves Seek(int64, ...) for io.Seeker's signature, and CI runs go vet.
func (it *Iterator) SeekTo(t int64) bool {
	if it.done {
		return false
	}
	if it.read > it.start && it.t >= t {
		return true
	}
	if it.decimal {
		return it.seekDecimal(t)
	}
	for it.Next() {
		if it.t >= t {
			return true
		}
	}
	return false
}

// Next advances to the next sample and reports whether there is one.
func (it *Iterator) Next() bool {
	if it.done {
		return false
	}
	if it.decimal {
		return it.nextDecimal()
	}
	if it.xorFrom != math.MinInt64 {
		// First Next after ResetFrom: skip the samples before from.
		from := it.xorFrom
		it.xorFrom = math.MinInt64
		for it.nextXOR() {
			if it.t >= from {
				return true
			}
		}
		return false
	}
	return it.nextXOR()
}

// nextXOR is Next for EncXOR chunks.
func (it *Iterator) nextXOR() bool {
	if it.read == it.numSamples {
		// NB: the last sample stays current (SeekTo may still return it)
		// until a Next past it; finish checked the chunk's end on reading it.
		it.done = true
		return false
	}
	switch it.read {
	case 0:
		if !it.readFirst() {
			return false
		}
	case 1:
		if !it.readSecond() {
			return false
		}
	default:
		if !it.readSample() {
			return false
		}
	}
	it.read++
	if it.read == it.numSamples {
		return it.finish()
	}
	return true
}

// readFirst decodes the first value; the first timestamp is MinT.
func (it *Iterator) readFirst() bool {
	it.t = it.minT
	it.v = 0
	it.leading = noWindow
	return it.readValue()
}

// readSecond decodes the first delta (a zigzag varint whose bytes are in the
// bit stream) and the second value.
func (it *Iterator) readSecond() bool {
	var ux uint64
	for i := uint(0); ; i++ {
		b, ok := it.br.readBits(8)
		if !ok {
			return it.truncated()
		}
		if i == binary.MaxVarintLen64-1 && b > 1 {
			it.fail(corruptf(it.br.offset(), fmt.Errorf("first delta: %w", errBadVarint)))
			return false
		}
		ux |= (b & 0x7f) << (7 * i)
		if b < 0x80 {
			break
		}
	}
	d := int64(ux>>1) ^ -int64(ux&1)
	it.tDelta = d
	it.t += d
	return it.readValue()
}

func varintErr(k int) error {
	if k == 0 {
		return errTruncated
	}
	return errBadVarint
}

// readSample decodes a timestamp and a value from the third sample on. It
// is the hot path: it decodes the common codes from a local copy of the bit
// buffer and hands anything else (wide dod buckets, too few bits left,
// damage) to the general readDod and readValue before it has consumed
// anything of that field.
func (it *Iterator) readSample() bool {
	br := &it.br
	if br.n < 57 {
		if br.pos+8 <= len(br.data) {
			// refill's word-load case by hand: refill is over the inlining budget.
			w := binary.BigEndian.Uint64(br.data[br.pos:])
			br.buf |= w >> br.n
			nb := (64 - br.n) >> 3
			br.pos += int(nb)
			br.n += nb << 3
		} else {
			br.refill() // the last bytes of the payload
		}
	}
	buf, n := br.buf, br.n
	if n == 0 {
		return it.truncated()
	}

	// Timestamp.
	if !it.jittery && buf>>63 == 0 {
		buf <<= 1 // steady '0': dod 0
		n--
		it.t += it.tDelta
	} else {
		pre := uint(0)
		if !it.jittery {
			pre = 1 // steady '1'
		}
		// NB: a table on the next 3 bits instead of bits.LeadingZeros64: on
		// the GOAMD64=v1 baseline that is BSR, which profiled at a third of
		// the decode time on AMD EPYC.
		ones := uint(dodOnes3[buf<<pre>>61])
		if ones > 2 {
			return it.readDod() && it.readValue()
		}
		w := dodBits[ones&3]
		pre += ones + 1 // '1'*ones then '0'
		if pre+w > n {
			return it.readDod() && it.readValue()
		}
		u := buf << pre >> (64 - w)
		buf <<= pre + w
		n -= pre + w
		dod := int64(u<<(64-w)) >> (64 - w)
		it.jittery = dod != 0
		it.tDelta += dod
		it.t += it.tDelta
	}

	// Value. Bits of buf past n are zero or further stream bits, so each
	// branch checks n before trusting what it reads.
	switch buf >> 62 {
	case 0b00, 0b01: // '0': same value
		if n >= 1 {
			br.buf, br.n = buf<<1, n-1
			return true
		}
	case 0b10: // '10': reuse the window
		if it.leading == noWindow || n < 2 {
			break // corrupt or short; readValue reports it
		}
		sig := uint(64 - it.leading - it.trailing)
		if 2+sig <= n {
			it.v ^= buf << 2 >> (64 - sig) << it.trailing
			br.buf, br.n = buf<<(2+sig), n-2-sig
			return true
		}
		br.buf, br.n = buf<<2, n-2
		return it.readSigBits(sig)
	default: // '11': new window, 5-bit leading, 6-bit significant count
		if n < 13 {
			break
		}
		lead := uint(buf << 2 >> (64 - valLeadingBits))
		sig := uint(buf << (2 + valLeadingBits) >> (64 - valSigBits))
		if sig == 0 {
			sig = 64
		}
		if lead+sig > 64 {
			break // corrupt; readValue reports it
		}
		it.leading, it.trailing = uint8(lead), uint8(64-lead-sig)
		if 13+sig <= n {
			it.v ^= buf << 13 >> (64 - sig) << it.trailing
			br.buf, br.n = buf<<(13+sig), n-13-sig
			return true
		}
		// Wide values (decimals have ~50 significant bits) often do not
		// fit after the dod; read them with a refill instead of restarting.
		br.buf, br.n = buf<<13, n-13
		return it.readSigBits(sig)
	}
	br.buf, br.n = buf, n
	return it.readValue()
}

// readSigBits reads the sig significant bits of a value XOR in the current
// window.
func (it *Iterator) readSigBits(sig uint) bool {
	x, ok := it.br.readBits(sig)
	if !ok {
		return it.truncated()
	}
	it.v ^= x << it.trailing
	return true
}

// dodOnes3 maps the next 3 bits to the number of leading '1's (3 means "3
// or more").
var dodOnes3 = [8]uint8{0, 0, 0, 0, 1, 1, 2, 3}

// readDod decodes one bucketed delta-of-delta in the current context and
// advances the timestamp (see dodBits).
func (it *Iterator) readDod() bool {
	br := &it.br
	if br.n < 6 {
		br.refill()
	}
	if !it.jittery {
		if br.n < 1 {
			return it.truncated()
		}
		if br.buf>>63 == 0 {
			br.skip(1) // steady '0': dod 0
			it.t += it.tDelta
			return true
		}
		br.skip(1) // steady '1': a bucket code follows
	}
	// Count the prefix's leading '1's: at most 4 then '0', or '11111'.
	ones := uint(bits.LeadingZeros64(^br.buf))
	if ones > dodEscape {
		ones = dodEscape
	}
	prefix := ones + 1 // '1'*ones then '0'
	if ones == dodEscape {
		prefix = dodEscape // '11111'
	}
	if prefix > br.n {
		return it.truncated()
	}
	br.skip(prefix)
	w := dodBits[ones]
	u, ok := br.readBits(w)
	if !ok {
		return it.truncated()
	}
	// Sign-extend the w-bit two's-complement field.
	dod := int64(u<<(64-w)) >> (64 - w)
	it.jittery = dod != 0
	it.tDelta += dod
	it.t += it.tDelta
	return true
}

// readValue decodes one XOR-compressed value.
func (it *Iterator) readValue() bool {
	br := &it.br
	if br.n < 2 {
		br.refill()
		if br.n < 1 {
			return it.truncated()
		}
	}
	if br.buf>>63 == 0 {
		br.skip(1) // '0': same value
		return true
	}
	if br.n < 2 {
		return it.truncated()
	}
	if br.buf>>62 == 0b10 {
		br.skip(2) // '10': reuse the window
		if it.leading == noWindow {
			it.fail(corruptf(br.offset(), fmt.Errorf("value reuses a window before one was set")))
			return false
		}
	} else {
		br.skip(2) // '11': new window, 5-bit leading, 6-bit significant count
		u, ok := br.readBits(valLeadingBits + valSigBits)
		if !ok {
			return it.truncated()
		}
		lead := uint8(u >> valSigBits)
		sig := uint8(u & (1<<valSigBits - 1))
		if sig == 0 {
			sig = 64
		}
		if int(lead)+int(sig) > 64 {
			it.fail(corruptf(br.offset(), fmt.Errorf("value window: leading %d + significant %d bits > 64", lead, sig)))
			return false
		}
		it.leading, it.trailing = lead, 64-lead-sig
	}
	sig := uint(64 - it.leading - it.trailing)
	x, ok := br.readBits(sig)
	if !ok {
		return it.truncated()
	}
	it.v ^= x << it.trailing
	return true
}

func (it *Iterator) truncated() bool {
	it.fail(corruptf(it.br.offset(), fmt.Errorf("sample %d of %d: %w", it.read, it.numSamples, errTruncated)))
	return false
}

// finish checks the chunk's tail after its last sample and reports whether
// that sample stands.
func (it *Iterator) finish() bool {
	if it.t != it.maxT {
		it.fail(corruptf(it.br.offset(), fmt.Errorf("%w: got %d, want %d", errMaxTMismatch, it.t, it.maxT)))
		return false
	}
	if err := it.br.checkTail(); err != nil {
		it.fail(err)
		return false
	}
	return true
}

// bitReader reads big-endian bits from a byte slice, 64 at a time.
//
// buf holds the next bits MSB-first; the top n of them are counted. Bits
// below those are either zero or also correct stream bits (a full-word load
// may pick up more than it counts), so OR-ing a later load at the same
// position is harmless. It never reads outside data and never writes to it.
type bitReader struct {
	data []byte
	pos  int // index of the first byte not yet loaded into buf
	buf  uint64
	n    uint // counted bits in buf
}

// refill loads whole bytes until at least 57 bits are counted or data ends.
func (br *bitReader) refill() {
	if br.pos+8 <= len(br.data) {
		w := binary.BigEndian.Uint64(br.data[br.pos:])
		br.buf |= w >> br.n
		nb := (64 - br.n) >> 3
		br.pos += int(nb)
		br.n += nb << 3
		return
	}
	for br.n <= 56 && br.pos < len(br.data) {
		br.buf |= uint64(br.data[br.pos]) << (56 - br.n)
		br.pos++
		br.n += 8
	}
}

// skip drops k <= n counted bits.
func (br *bitReader) skip(k uint) {
	br.buf <<= k
	br.n -= k
}

// readBits returns the next k (0..64) bits, or false if data ends first.
// The common case is small enough to inline.
func (br *bitReader) readBits(k uint) (uint64, bool) {
	if br.n < k {
		return br.readBitsSlow(k)
	}
	u := br.buf >> (64 - k) // NB: a shift by 64 yields 0 in Go, so k == 0 works
	br.buf <<= k
	br.n -= k
	return u, true
}

// readBitsSlow is readBits when fewer than k bits are counted.
func (br *bitReader) readBitsSlow(k uint) (uint64, bool) {
	if k > 56 {
		// refill guarantees only 57 counted bits; read in two parts.
		hi, ok := br.readBits(k - 32)
		if !ok {
			return 0, false
		}
		lo, ok := br.readBits(32)
		return hi<<32 | lo, ok
	}
	br.refill()
	if br.n < k {
		return 0, false
	}
	u := br.buf >> (64 - k)
	br.buf <<= k
	br.n -= k
	return u, true
}

// offset is the byte offset in data of the next unread bit.
func (br *bitReader) offset() int {
	return br.pos - int(br.n>>3) - boolInt(br.n&7 != 0)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkTail verifies that after the last sample at most 7 bits remain and
// that they are zero padding.
func (br *bitReader) checkTail() error {
	rest := uint(len(br.data)-br.pos)*8 + br.n
	if rest >= 8 {
		return corruptf(br.offset(), errTrailing)
	}
	if rest > 0 {
		br.refill()
		if br.buf>>(64-br.n) != 0 {
			return corruptf(br.offset(), errBadPadding)
		}
	}
	return nil
}
