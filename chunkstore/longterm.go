package chunkstore

import (
	"errors"
	"fmt"
)

// DefaultLongTermSamples is the default maximum number of samples of a
// chunk written by Reencode: 12 hours of 15 s scrapes. Longer chunks still
// shrink a little, but every read of one sample decodes the whole chunk;
// docs/COMPRESSION.md §Long-term encoding has the measurement.
const DefaultLongTermSamples = 2880

// ErrUnsorted is returned by Reencode when the source chunks' timestamps are
// not strictly increasing across the series.
//
// NB: it lives here rather than in errors.go only because this file's
// owner could not edit errors.go while another change was in flight.
var ErrUnsorted = errors.New("chunkstore: timestamps not strictly increasing")

// ReencodeOptions configures a Reencoder. The zero value is valid.
type ReencodeOptions struct {
	// MaxSamples is the largest number of samples per output chunk; 0
	// means DefaultLongTermSamples. Values above MaxDecimalSamples are
	// lowered to it. A series of N samples becomes ceil(N/MaxSamples)
	// chunks of nearly equal size (no short tail chunk).
	MaxSamples int
	// Encodings restricts what Reencode writes: EncNone (the zero value)
	// means "the smaller of EncXOR and EncDecimal per chunk"; EncXOR or
	// EncDecimal forces that encoding (for measurements).
	Encodings Encoding
}

// Reencoder merges a series' consecutive chunks into long chunks, each in
// the smaller of EncXOR and EncDecimal. Owned by one goroutine; it keeps
// its buffers between calls, so a compactor reuses one per goroutine.
type Reencoder struct {
	o    ReencodeOptions
	it   Iterator
	app  Appender
	enc  DecimalEncoder
	ts   []int64
	vs   []float64
	xb   []byte // XOR candidate payload
	db   []byte // decimal candidate payload
	out  []byte // arena holding the returned payloads
	lens []int  // payload length of each returned chunk, in order
}

// NewReencoder returns a Reencoder with options o.
func NewReencoder(o ReencodeOptions) *Reencoder {
	if o.MaxSamples <= 0 {
		o.MaxSamples = DefaultLongTermSamples
	}
	o.MaxSamples = min(o.MaxSamples, MaxDecimalSamples)
	r := &Reencoder{o: o}
	// Forced EncDecimal keeps every chunk decimal, exceptions and all.
	r.enc.noGiveUp = o.Encodings == EncDecimal
	return r
}

// Reencode decodes src (the chunks of one series, in time order) and
// appends to dst the same samples, bit-exact, re-cut into chunks of at most
// MaxSamples, each encoded in the smaller of EncXOR and EncDecimal (ties go
// to EncXOR, which decodes incrementally). The returned chunks are
// time-ordered and disjoint. Their Data lives in a buffer owned by r and is
// valid until the next call of Reencode on r; src is only read, and may be
// released when Reencode returns.
//
// It returns ErrUnsorted (wrapped) when timestamps are not strictly
// increasing across src, or the decoder's error (errors.Is ErrCorrupt or
// ErrUnknownEncoding) naming the source chunk; dst is then returned
// unchanged.
func (r *Reencoder) Reencode(dst []Chunk, src []Chunk) ([]Chunk, error) {
	r.ts, r.vs = r.ts[:0], r.vs[:0]
	for i, c := range src {
		it := c.Iterator(&r.it)
		for it.Next() {
			t, v := it.At()
			if n := len(r.ts); n > 0 && t <= r.ts[n-1] {
				return dst, fmt.Errorf("chunkstore: reencode chunk %d: timestamp %d after %d: %w", i, t, r.ts[n-1], ErrUnsorted)
			}
			r.ts = append(r.ts, t)
			r.vs = append(r.vs, v)
		}
		if err := it.Err(); err != nil {
			return dst, fmt.Errorf("chunkstore: reencode chunk %d: %w", i, err)
		}
	}
	n := len(r.ts)
	if n == 0 {
		return dst, nil
	}
	pieces := (n + r.o.MaxSamples - 1) / r.o.MaxSamples
	r.out, r.lens = r.out[:0], r.lens[:0]
	// Payloads are appended to r.out; chunk Data is sliced from it only at
	// the end, since appending may move the array.
	first := len(dst)
	for p := range pieces {
		// Piece sizes differ by at most one sample.
		lo, hi := p*n/pieces, (p+1)*n/pieces
		c, err := r.encode(r.ts[lo:hi], r.vs[lo:hi])
		if err != nil {
			return dst[:first], err
		}
		r.out = append(r.out, c.Data...)
		l := len(c.Data)
		c.Data = nil
		dst = append(dst, c)
		r.lens = append(r.lens, l)
	}
	// Re-slice every payload from the final arena.
	off := 0
	for i, l := range r.lens {
		dst[first+i].Data = r.out[off : off+l : off+l]
		off += l
	}
	return dst, nil
}

// encode returns the smaller encoding of one piece. Its Data aliases r.xb
// or r.db.
func (r *Reencoder) encode(ts []int64, vs []float64) (Chunk, error) {
	var xc Chunk
	if r.o.Encodings != EncDecimal {
		r.app.Reset(r.xb)
		for i := range ts {
			r.app.Append(ts[i], vs[i])
		}
		xc = r.app.Chunk()
		r.xb = xc.Data
		if r.o.Encodings == EncXOR {
			return xc, nil
		}
	}
	dc, ok, err := r.enc.Encode(r.db, ts, vs)
	if err != nil {
		return Chunk{}, fmt.Errorf("chunkstore: reencode: %w", err)
	}
	if ok {
		r.db = dc.Data
	}
	if r.o.Encodings == EncDecimal || (ok && len(dc.Data) < len(xc.Data)) {
		return dc, nil
	}
	return xc, nil
}

// Reencode is Reencoder.Reencode with a fresh Reencoder: the returned
// chunks' Data is a new allocation owned by the caller. Each call builds
// its own scratch buffers and zstd encoder (about a millisecond), so loops
// over many series use one Reencoder instead.
func Reencode(dst []Chunk, src []Chunk, o ReencodeOptions) ([]Chunk, error) {
	return NewReencoder(o).Reencode(dst, src)
}
