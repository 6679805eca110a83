package chunkstore

import (
	"hash/crc32"
	"strconv"
)

// Encoding identifies how a chunk's payload is encoded. It is stored as one
// byte in the chunk record (docs/format/chunks.md §Record).
type Encoding uint8

const (
	// EncNone is reserved and never written; a record carrying it is treated
	// as an unknown encoding (docs/format/chunks.md §Encodings).
	EncNone Encoding = 0
	// EncXOR is the Gorilla-style encoding: delta-of-delta timestamps in
	// millisecond-tuned buckets and XOR-compressed float64 values
	// (docs/format/chunks.md §EncXOR payload).
	EncXOR Encoding = 1
)

// String returns a short name for the encoding ("xor", "none" or
// "unknown(N)").
func (e Encoding) String() string {
	switch e {
	case EncNone:
		return "none"
	case EncXOR:
		return "xor"
	}
	return "unknown(" + strconv.Itoa(int(e)) + ")"
}

// Known reports whether this version of the package can decode e.
func (e Encoding) Known() bool { return e == EncXOR }

// DefaultSamplesPerChunk is the recommended number of samples after which a
// caller cuts a new chunk. The codec itself has no limit below 2^32 samples.
// docs/COMPRESSION.md §Chunk size has the measurement behind the choice.
const DefaultSamplesPerChunk = 120

// Timestamp delta-of-delta buckets (docs/format/chunks.md §Timestamps).
// Each bucket is a prefix code followed by a two's-complement field of the
// given width; the last bucket stores the full 64 bits so any int64 sequence
// round-trips. Widths are chosen from the measured dod histogram of real
// 15 s node_exporter scrapes (docs/COMPRESSION.md §Timestamp buckets).
const (
	dodBits1 = 5  // prefix '10':    [-16, 15] ms: scrape jitter
	dodBits2 = 9  // prefix '110':   [-256, 255] ms: a slow scrape
	dodBits3 = 14 // prefix '1110':  [-8192, 8191] ms: a missed beat at short intervals
	dodBits4 = 32 // prefix '11110': about ±24.8 days: interval changes
	dodBits5 = 64 // prefix '11111': escape, any int64 (wrapping arithmetic)
)

// XOR value control codes (docs/format/chunks.md §Values).
const (
	valLeadingBits = 5  // leading-zero count field in a new window, capped at 31
	valSigBits     = 6  // significant-bit count field; 64 is stored as 0
	maxLeading     = 31 // largest leading-zero count the 5-bit field holds
	noWindow       = 0xff
)

// Record framing (docs/format/chunks.md §Record).
const (
	// recordCRCSize is the size of the trailing CRC32C (big-endian).
	recordCRCSize = 4
	// MaxRecordBodySize bounds the length field of a record: anything larger
	// is treated as corruption rather than trusted. A 2^32-sample chunk
	// cannot be written by a sane caller; 1 GiB leaves room for any encoding.
	MaxRecordBodySize = 1 << 30
)

// castagnoli is the CRC32C table used by every record checksum.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)
