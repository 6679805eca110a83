package chunkstore

// Constants of the EncDecimal payload (docs/format/chunks.md §EncDecimal
// payload). They live beside format.go rather than in it so that the
// EncXOR constants stay one screen; every value here cites the same spec.
//
// The payload starts with one header byte: bits 0-2 are flags, bits 3-7
// the decimal exponent e (0..decMaxExp).
const (
	// decFlagZstd (flags bit 0): the body after the two header bytes is a
	// <uvarint> raw length and a zstd frame without its 4-byte magic; the
	// streams inside are uvarints. Clear: the body is stored as is and its
	// streams are bit-packed (§EncDecimal payload, Layouts).
	decFlagZstd = 1 << 0
	// decFlagValueDod (flags bit 1): the value stream holds delta-of-deltas
	// of the scaled integers (counters); clear: deltas (gauges).
	decFlagValueDod = 1 << 1
	// decFlagExtended (flags bit 2): the body starts with a <uvarint> of
	// extension bits (decExt*) that announce optional fields; clear: none
	// of them is present.
	decFlagExtended = 1 << 2
	// decExtExceptions: an exception count (>= 1) and the exceptions.
	decExtExceptions = 1 << 0
	// decExtGCD: a <uvarint> divisor g >= 2 of every value-stream entry;
	// the stream stores entry / g (memory gauges move in pages of 4096).
	decExtGCD = 1 << 1
	// decExtULP: the near model. A third stream of n corrections follows
	// the value stream: value bits = bits(float64(m) / 10^e) + correction.
	decExtULP = 1 << 2
	// decExtKnown are the extension bits this version understands; any
	// other set bit (or none) is corruption.
	decExtKnown = decExtExceptions | decExtGCD | decExtULP
	// decMaxCorr bounds the corrections an encoder writes (a larger one
	// makes the value an exception); decoders accept any int64.
	decMaxCorr = 1 << 16
	// decNearFrom: the near model is costed for chunks whose exact
	// exponent exceeds it (or that have exceptions). Six decimals is what
	// printf-style exporters emit; beyond that, digits usually come from
	// float arithmetic.
	decNearFrom = 6
	// decMaxGCD bounds the divisor, so that |entry / g| * g never wraps.
	decMaxGCD = 1 << 62
	// decExpShift is the position of e in the header byte.
	decExpShift = 3

	// decMaxExp is the largest decimal exponent e (v = m / 10^e). 10^22 is
	// the largest power of ten a float64 holds exactly, which keeps the
	// decoder's single division correctly rounded and the check exact.
	decMaxExp = 22

	// decGroup is the number of values per bit-packed group; each group
	// starts with a decWidthBits-bit width (0..64). 64 keeps the width
	// overhead at 1/9 bit per value while confining an outlier (a counter
	// reset) to its own group.
	decGroup     = 64
	decWidthBits = 7

	// decExceptionSize is the size of an exception's raw float64 bits
	// (<8b LE>), stored for values that are not m / 10^e exactly.
	decExceptionSize = 8

	// MaxDecimalSamples bounds the sample count of an EncDecimal chunk. A
	// decoder materialises the whole chunk (16 bytes per sample) on Reset,
	// so a larger claim is treated as corruption before anything is
	// allocated. Reencode never writes more than this.
	MaxDecimalSamples = 1 << 20
	// decMaxRawBytes bounds the decompressed body of a zstd layout: a
	// uvarint is at most 10 bytes, plus 18 bytes per exception and the
	// header; anything larger is corruption.
	decMaxRawBytes = 64 << 20
	// decMaxZstdRatio bounds rawLen by the compressed size: zstd's densest
	// block (RLE: 3-byte header and 1 byte) expands 4 bytes to 128 KiB.
	decMaxZstdRatio = 128 << 10 / 4
)

// zstdMagic is the zstd frame magic number (RFC 8878 §3.1.1), which the
// zstd layout omits from the payload and the decoder puts back.
var zstdMagic = [4]byte{0x28, 0xb5, 0x2f, 0xfd}

// pow10 holds the exact float64 powers of ten 10^0 … 10^22.
var pow10 = [decMaxExp + 1]float64{
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
}

// Constants of the EncDecimalSharedRC payload (docs/format/chunks.md
// §EncDecimalSharedRC payload): header bit 0, the zstd flag of EncDecimal,
// is the level flag; the range coder's probabilities and model.
const (
	// decFlagLevel (header bit 0 of EncDecimalSharedRC): the level model,
	// m_i = m0 + V_i·g for every i (m0 is the base).
	decFlagLevel = 1 << 0
	// rcProbBits is the precision of a probability of a 0 bit; it starts
	// at one half (rcProbInit).
	rcProbBits = 12
	rcProbOne  = 1 << rcProbBits
	rcProbInit = rcProbOne / 2
	// rcTopBits bits under an entry's leading one are modelled (for
	// peaked residuals they are skewed towards 0); the rest are plain.
	rcTopBits = 3
	// rcTop is the bound the coder keeps its range at or above.
	rcTop = 1 << 24
	// rcMaxLen is the largest bit length of an entry (a uint64), and the
	// largest centre.
	rcMaxLen = 64
)

// rcRamp is the step of a probability's update by the number of bits it
// has seen: p moves 1/2^rcRamp[n] of the way towards the bit. Large steps
// first let the few hundred entries of a chunk learn fast; 1/16 from then
// on tracks a stationary source closely. On the real capture's compacted
// block this schedule takes the value payloads 1.1 % below a constant
// 1/16 and 4 % below LZMA's 1/32 (docs/COMPRESSION.md).
var rcRamp = [...]uint8{2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4}
