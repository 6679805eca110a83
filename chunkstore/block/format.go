package block

import "hash/crc32"

// Constants of the block format. Every value is specified in
// docs/format/block.md (layout, meta.json, chunk segments, tombstones) or in
// docs/format/index.md §Block index (the index file); the section is named
// next to each one.
const (
	// MetaVersion1 is the only meta.json version written and read
	// (docs/format/block.md §meta.json).
	MetaVersion1 = 1

	// metaFilename, indexFilename, tombstonesFilename and chunksDirname
	// name the members of a block directory (docs/format/block.md §Layout).
	metaFilename       = "meta.json"
	indexFilename      = "index"
	tombstonesFilename = "tombstones"
	chunksDirname      = "chunks"

	// segmentNameWidth is the zero-padded width of a chunk segment file
	// name, "000001" (docs/format/block.md §Layout).
	segmentNameWidth = 6

	// indexMagic starts the block index file: "SBBI" as 4 bytes big endian
	// (docs/format/index.md §Block index, Header).
	indexMagic uint32 = 0x53424249
	// indexVersion1 is the block index version without shared timestamps
	// (docs/format/index.md §Block index, Header). Writers still write it
	// when WriterOptions.SharedTimestamps is off, so such blocks stay
	// readable by older builds.
	indexVersion1 byte = 1
	// indexVersion2 adds the timestamps section after postings and a fifth
	// TOC entry (docs/format/block.md §Index version 2).
	indexVersion2 byte = 2
	// indexVersion3 is a version-2 index compressed whole with zstd
	// (docs/format/block.md §Index version 3). Written only when
	// WriterOptions.CompressIndex is on and the version-2 image is at most
	// compressIndexLimit bytes.
	indexVersion3 byte = 3
	// defaultCompressIndexLimit bounds the version-2 image a writer
	// compresses: a reader keeps the decompressed image on the heap (a
	// larger index stays version 2, read in place through mmap).
	defaultCompressIndexLimit = 4 << 20
	// maxIndexImage bounds the image length a reader accepts in a
	// version-3 index (docs/format/block.md §Index version 3).
	maxIndexImage = 64 << 20

	// segmentMagic starts every chunk segment file: "SBCS" as 4 bytes big
	// endian (docs/format/block.md §Chunk segments).
	segmentMagic uint32 = 0x53424353
	// segmentVersion1 is the only chunk segment version written and read
	// (docs/format/block.md §Chunk segments).
	segmentVersion1 byte = 1

	// tombstonesMagic starts the tombstones file: "SBTS" as 4 bytes big
	// endian (docs/format/block.md §Tombstones).
	tombstonesMagic uint32 = 0x53425453
	// tombstonesVersion1 is the only tombstones version written and read
	// (docs/format/block.md §Tombstones).
	tombstonesVersion1 byte = 1

	// headerSize is magic <4b BE> + version <1b> + reserved <3b>; the index,
	// every chunk segment and the tombstones file start with such a header
	// (docs/format/block.md §File headers).
	headerSize = 8

	// sectionFrameSize is the overhead of an index section: length <4b BE>
	// before the payload and CRC32C <4b BE> after it
	// (docs/format/index.md §Block index, Sections).
	sectionFrameSize = 8

	// numSections is the number of sections of the block index, in file
	// order: series, series offsets, symbols, postings
	// (docs/format/index.md §Block index, Overview).
	numSections = 4

	// numSectionsV2 counts the sections of a version-2 index: the four of
	// version 1, then timestamps (docs/format/block.md §Index version 2).
	numSectionsV2 = numSections + 1

	// DefaultTimestampCacheSamples bounds, per open block, the decoded
	// shared timestamp columns kept for reads (8 bytes each: 4 MiB). A
	// query over the series of one scrape target then decodes its column
	// once (docs/format/block.md §Timestamps section).
	DefaultTimestampCacheSamples = 1 << 19

	// maxSectionSize bounds a section payload; the length field is 4 bytes
	// (docs/format/index.md §Block index, Sections).
	maxSectionSize = 1<<32 - 1

	// crcSize is the size of a trailing CRC32C <4b BE>.
	crcSize = 4

	// DefaultSegmentSize is the size after which the writer starts a new
	// chunk segment file (docs/format/block.md §Chunk segments). A segment
	// may exceed it by one record when a single record is larger.
	DefaultSegmentSize = 512 << 20

	// maxSegmentSize bounds WriterOptions.SegmentSize: a chunk ref keeps the
	// offset in its low 32 bits (docs/format/block.md §Chunk refs).
	maxSegmentSize = 1<<32 - 1
)

// castagnoli is the CRC32C table used for every checksum of the format.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)
