package chunkstore

// Chunk is an immutable view of encoded samples and their metadata.
//
// The fields must be consistent with each other (as produced by
// [Appender.Chunk] or [DecodeRecord]); an iterator treats any disagreement
// between them and the payload as corruption. Data aliases memory owned by
// someone else (see the package doc, "Lifetime of bytes") and is never
// written by this package.
type Chunk struct {
	// Enc is the payload encoding.
	Enc Encoding
	// NumSamples is the number of samples encoded in Data.
	NumSamples int
	// MinT and MaxT are the first and the last timestamp (ms) appended. For
	// the strictly increasing sequences the engine stores these are the
	// minimum and maximum; the codec itself accepts any sequence and does
	// not reorder. Both are 0 when NumSamples is 0.
	//
	// NB: MinT is part of the encoding, not just metadata: the EncXOR
	// payload does not repeat the first timestamp, so a payload only
	// decodes together with its MinT (the record stores it).
	MinT, MaxT int64
	// Data is the encoded payload (docs/format/chunks.md §EncXOR payload).
	Data []byte
	// Timestamps holds the chunk's timestamps when they are stored apart
	// from its payload (EncDecimalShared: a block's shared timestamp
	// column); nil for every other encoding. It has NumSamples entries,
	// the first MinT and the last MaxT. Read-only: it is shared by every
	// chunk of the column and, like Data, owned by whoever returned the
	// chunk (a block keeps it valid at least while the block is held).
	Timestamps []int64
}

// Iterator returns an iterator positioned before the first sample of c.
// When reuse is non-nil it is reset and returned, so steady-state iteration
// does not allocate.
func (c Chunk) Iterator(reuse *Iterator) *Iterator {
	if reuse == nil {
		reuse = new(Iterator)
	}
	reuse.Reset(c)
	return reuse
}
