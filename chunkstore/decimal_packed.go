package chunkstore

// NewPackedDecimalEncoder returns a DecimalEncoder that writes only the
// bit-packed layout. Without zstd, encoding allocates nothing once its
// scratch buffers have grown, which is what the head needs when it closes
// chunks on its ingest path; at 120 samples per chunk the packed layout wins
// most chunks anyway (docs/COMPRESSION.md §Long-term encoding, "Layouts").
func NewPackedDecimalEncoder() *DecimalEncoder {
	return &DecimalEncoder{layouts: layoutPacked}
}
