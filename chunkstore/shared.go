package chunkstore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Shared timestamps (docs/format/chunks.md §EncTimestamps payload and
// §EncDecimalShared payload; docs/format/block.md §Timestamps section).
//
// All series of one scrape target carry the same timestamps. A compacted
// block stores them once per group of such series, as an EncTimestamps
// column, and each series' chunk as EncDecimalShared: a reference to the
// column and the EncDecimal body without its timestamp fields. The
// container (package block) resolves the reference and hands the decoded
// column to the iterator in Chunk.Timestamps.

// ErrNoTimestamps is returned (wrapped) by an Iterator reset with an
// EncDecimalShared chunk whose Timestamps field is nil: the chunk did not
// come through its container, which alone can resolve the column.
//
// NB: it lives here rather than in errors.go to keep this change out of
// files with other owners.
var ErrNoTimestamps = errors.New("chunkstore: shared-timestamp chunk without its timestamps")

// tsFlagZstd (EncTimestamps header bit 0): zstd layout, as decFlagZstd; the
// other header bits must be zero (docs/format/chunks.md §EncTimestamps
// payload).
const tsFlagZstd = 1 << 0

// EncodeTimestamps encodes ts as an EncTimestamps column whose payload is
// appended to dst[:0]: the first delta and the delta-of-delta stream of
// EncDecimal, bit-packed or zstd-compressed, whichever is smaller. Any int64
// sequence round-trips. The chunk's Data aliases the returned buffer (dst's
// array when it had capacity). len(ts) must be at most MaxDecimalSamples.
func (e *DecimalEncoder) EncodeTimestamps(dst []byte, ts []int64) (Chunk, error) {
	n := len(ts)
	if n > MaxDecimalSamples {
		return Chunk{}, fmt.Errorf("chunkstore: timestamps encode: %d samples > %d", n, MaxDecimalSamples)
	}
	dst = dst[:0]
	if n == 0 {
		return Chunk{Enc: EncTimestamps, Data: dst}, nil
	}
	e.tz = e.tz[:0]
	for i := 2; i < n; i++ {
		e.tz = append(e.tz, zigzag((ts[i]-ts[i-1])-(ts[i-1]-ts[i-2])))
	}
	e.body = e.body[:0]
	if n >= 2 {
		e.body = binary.AppendVarint(e.body, ts[1]-ts[0])
	}
	e.body = appendPacked(e.body, e.tz)
	c := Chunk{Enc: EncTimestamps, NumSamples: n, MinT: ts[0], MaxT: ts[n-1]}
	if n > 2 && e.layouts != layoutPacked {
		e.raw = binary.AppendVarint(e.raw[:0], ts[1]-ts[0])
		for _, u := range e.tz {
			e.raw = binary.AppendUvarint(e.raw, u)
		}
		zl, err := e.compress(dst, tsFlagZstd)
		if err != nil {
			return Chunk{}, err
		}
		if len(zl) < 1+len(e.body) || e.layouts == layoutZstd {
			c.Data = zl
			return c, nil
		}
		dst = zl[:0]
	}
	dst = append(dst, 0) // header: packed layout
	c.Data = append(dst, e.body...)
	return c, nil
}

// EncodeShared encodes (ts, vs) as an EncDecimalShared chunk whose payload,
// appended to dst[:0], starts with col (the container's reference to the
// timestamp column holding exactly ts) followed by the values-only
// EncDecimal body. The boolean is false, as for Encode, when the values are
// not decimal enough; the caller then writes a self-contained chunk. The
// chunk's Timestamps field is left nil.
func (e *DecimalEncoder) EncodeShared(dst []byte, col uint64, ts []int64, vs []float64) (Chunk, bool, error) {
	e.valuesOnly = true
	c, ok, err := e.Encode(dst, ts, vs)
	e.valuesOnly = false
	if err != nil || !ok {
		return Chunk{}, ok, err
	}
	enc := EncDecimalShared
	if c.Enc == EncDecimalSharedRC { // range coding on, and it paid
		enc = EncDecimalSharedRC
	}
	// Shift the payload right in place and put the reference in front.
	k := uvarintLen(col)
	p := c.Data
	l := len(p)
	for range k {
		p = append(p, 0)
	}
	copy(p[k:], p[:l])
	binary.PutUvarint(p, col)
	c.Enc, c.Data = enc, p
	return c, true, nil
}

// SharedColumn returns the timestamp column reference at the start of an
// EncDecimalShared chunk's payload. Damage is a *CorruptionError.
func SharedColumn(c Chunk) (uint64, error) {
	if !c.Enc.Shared() {
		return 0, fmt.Errorf("chunkstore: column reference of a %s chunk: %w", c.Enc, ErrUnknownEncoding)
	}
	col, k := binary.Uvarint(c.Data)
	if k <= 0 {
		return 0, corruptf(0, fmt.Errorf("timestamp column reference: %w", varintErr(k)))
	}
	return col, nil
}

// resetShared decodes the EncDecimalShared chunk c, taking its timestamps
// from c.Timestamps, the values from the first sample at or after from on.
func (it *Iterator) resetShared(c Chunk, from int64) {
	if it.dec == nil {
		it.dec = new(decimalState)
	}
	it.decimal = true
	_, k := binary.Uvarint(c.Data)
	if k <= 0 {
		it.fail(corruptf(0, fmt.Errorf("timestamp column reference: %w", varintErr(k))))
		return
	}
	n := c.NumSamples
	switch {
	case c.Timestamps == nil && n != 0:
		it.fail(fmt.Errorf("decode %s chunk: %w", c.Enc, ErrNoTimestamps))
		return
	case len(c.Timestamps) != n:
		it.fail(corruptf(0, fmt.Errorf("%d samples, timestamp column of %d", n, len(c.Timestamps))))
		return
	case n > 0 && (c.Timestamps[0] != c.MinT || c.Timestamps[n-1] != c.MaxT):
		it.fail(corruptf(0, fmt.Errorf("chunk spans [%d, %d], timestamp column [%d, %d]",
			c.MinT, c.MaxT, c.Timestamps[0], c.Timestamps[n-1])))
		return
	}
	it.dec.staleOnly = it.staleOnly
	if err := it.dec.decodeWith(c, c.Data[k:], c.Timestamps, from, c.Enc == EncDecimalSharedRC); err != nil {
		var ce *CorruptionError
		if errors.As(err, &ce) {
			ce.Offset += int64(k) // offsets within Data, like every iterator error
		}
		it.fail(err)
		return
	}
	it.startDecimal()
}

// DecodeTimestamps decodes the EncTimestamps column c and appends its
// NumSamples timestamps to dst. Damage is a *CorruptionError with the
// offset within c.Data (errors.Is ErrCorrupt); another encoding is
// ErrUnknownEncoding. It allocates its scratch on every call: callers
// decode a column once and keep the result (package block caches them).
func DecodeTimestamps(dst []int64, c Chunk) ([]int64, error) {
	if c.Enc != EncTimestamps {
		return dst, fmt.Errorf("chunkstore: decode %s chunk as timestamps: %w", c.Enc, ErrUnknownEncoding)
	}
	n := c.NumSamples
	data := c.Data
	if n < 0 || n > MaxDecimalSamples {
		return dst, corruptf(0, fmt.Errorf("%w: %d samples, limit %d", errCountTooLarge, n, MaxDecimalSamples))
	}
	if n == 0 {
		if len(data) != 0 {
			return dst, corruptf(0, errEmptyPayload)
		}
		return dst, nil
	}
	if len(data) < 1 {
		return dst, corruptf(0, fmt.Errorf("timestamps header: %w", errTruncated))
	}
	hdr := data[0]
	if hdr&^tsFlagZstd != 0 {
		return dst, corruptf(0, fmt.Errorf("timestamps header %#02x: unknown bits", hdr))
	}
	packed := hdr&tsFlagZstd == 0
	body, base := data[1:], 1
	var d decimalState
	if packed {
		if uint64(n) > 2+uint64(len(body))*decGroup*8/decWidthBits {
			return dst, corruptf(0, fmt.Errorf("%w: %d samples in %d bytes", errCountTooLarge, n, len(data)))
		}
	} else {
		rawLen, k := binary.Uvarint(body)
		if k <= 0 {
			return dst, corruptf(base, fmt.Errorf("timestamps raw length: %w", varintErr(k)))
		}
		// One uvarint per dod (1 to 10 bytes) plus the first delta.
		if rawLen > decMaxRawBytes || uint64(n) > 2+rawLen || rawLen > 10+10*uint64(n) ||
			rawLen > decMaxZstdRatio*uint64(len(body)) {
			return dst, corruptf(base, fmt.Errorf("%w: %d samples, raw body of %d bytes", errCountTooLarge, n, rawLen))
		}
		base += k
		zd, err := zstdDecoder()
		if err != nil {
			return dst, fmt.Errorf("chunkstore: zstd decoder: %w", err)
		}
		d.frame = append(append(d.frame, zstdMagic[:]...), body[k:]...)
		raw, err := zd.DecodeAll(d.frame, make([]byte, 0, rawLen))
		if err != nil {
			return dst, corruptf(base, fmt.Errorf("timestamps zstd body: %w", err))
		}
		if uint64(len(raw)) != rawLen {
			return dst, corruptf(base, fmt.Errorf("timestamps zstd body: %d bytes, header says %d", len(raw), rawLen))
		}
		body = raw
	}
	r := byteReader{b: body, base: base, packed: packed}
	var d1 int64
	if n >= 2 {
		d1 = r.varint("first delta")
	}
	d.tz = r.stream(d.tz, max(n-2, 0), "timestamps")
	if r.err != nil {
		return dst, r.err
	}
	if len(r.b) != 0 {
		return dst, corruptf(r.off(), errTrailing)
	}
	t := c.MinT
	dst = append(dst, t)
	if n >= 2 {
		delta := d1
		t += delta
		dst = append(dst, t)
		for _, u := range d.tz {
			delta += unzigzag(u)
			t += delta
			dst = append(dst, t)
		}
	}
	if t != c.MaxT {
		return dst[:len(dst)-n], corruptf(len(data), fmt.Errorf("%w: got %d, want %d", errMaxTMismatch, t, c.MaxT))
	}
	return dst, nil
}
