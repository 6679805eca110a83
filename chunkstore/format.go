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
	// EncDecimal is the long-term encoding for compacted chunks: values as
	// scaled decimal integers, delta or delta-of-delta coded, bit-packed or
	// zstd-compressed (docs/format/chunks.md §EncDecimal payload).
	EncDecimal Encoding = 2
	// EncTimestamps is a timestamp column shared by the series of a group in
	// a compacted block: the timestamp fields of EncDecimal alone
	// (docs/format/chunks.md §EncTimestamps payload). It is never a series
	// chunk; DecodeTimestamps decodes it.
	EncTimestamps Encoding = 3
	// EncDecimalShared is EncDecimal without timestamps: a column reference
	// and the EncDecimal body without its timestamp fields. The timestamps
	// come from a shared EncTimestamps column of the container, passed in
	// Chunk.Timestamps (docs/format/chunks.md §EncDecimalShared payload).
	EncDecimalShared Encoding = 4
	// EncDecimalSharedRC is EncDecimalShared with its value streams
	// range-coded (an adaptive binary range coder) instead of bit-packed
	// or zstd-compressed, and a level model beside delta and
	// delta-of-delta; compacted blocks use it per chunk where it pays
	// (docs/format/chunks.md §EncDecimalSharedRC payload).
	EncDecimalSharedRC Encoding = 5
)

// String returns a short name for the encoding ("xor", "decimal",
// "decimal-shared", "decimal-shared-rc", "timestamps", "none" or
// "unknown(N)").
func (e Encoding) String() string {
	switch e {
	case EncNone:
		return "none"
	case EncXOR:
		return "xor"
	case EncDecimal:
		return "decimal"
	case EncDecimalShared:
		return "decimal-shared"
	case EncDecimalSharedRC:
		return "decimal-shared-rc"
	case EncTimestamps:
		return "timestamps"
	}
	return "unknown(" + strconv.Itoa(int(e)) + ")"
}

// Known reports whether this version of the package can decode e as a
// series chunk (EncDecimalShared only together with its Chunk.Timestamps;
// EncTimestamps is a column, not a series chunk, and is not Known).
func (e Encoding) Known() bool { return e == EncXOR || e == EncDecimal || e.Shared() }

// Shared reports whether chunks of encoding e take their timestamps from a
// shared EncTimestamps column of their container (Chunk.Timestamps) and
// start with the column reference (SharedColumn): EncDecimalShared and
// EncDecimalSharedRC.
func (e Encoding) Shared() bool { return e == EncDecimalShared || e == EncDecimalSharedRC }

// DefaultSamplesPerChunk is the recommended number of samples after which a
// caller cuts a new chunk. The codec itself has no limit below 2^32 samples.
// docs/COMPRESSION.md §Chunk size has the measurement behind the choice.
const DefaultSamplesPerChunk = 120

// Timestamp delta-of-delta buckets (docs/format/chunks.md §Timestamps).
//
// A dod is written with the prefix code below: '1'*k then '0' (k < 5)
// followed by a two's-complement field of width dodBits[k], or '11111'
// followed by the full 64 bits, so any int64 sequence round-trips.
//
// The code is used in two contexts. After a dod of 0 (and for the first dod
// of a chunk) the encoder is "steady": it writes one bit first, '0' for a
// dod of 0 and '1' before the bucket code of a non-zero dod. After a
// non-zero dod it is "jittery" and writes the bucket code directly (a dod of
// 0 then costs 5 bits). Perfectly regular series pay 1 bit per timestamp;
// series with millisecond scrape jitter never pay for a zero flag they
// rarely use. The widths come from the measured dod histogram of real 15 s
// node_exporter scrapes (docs/COMPRESSION.md §Timestamps).
var dodBits = [6]uint{
	4,  // '0':     [-8, 7] ms: typical scrape jitter
	6,  // '10':    [-32, 31] ms: the rest of it
	9,  // '110':   [-256, 255] ms: a slow scrape
	14, // '1110':  [-8192, 8191] ms: a skipped beat at short intervals
	32, // '11110': about ±24.8 days: interval changes
	64, // '11111': escape, any int64 (wrapping arithmetic)
}

// dodEscape is the number of leading ones that selects the 64-bit escape.
const dodEscape = 5

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
