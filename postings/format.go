package postings

import "hash/crc32"

// Constants of the serialized index. Every value is specified in
// docs/format/index.md; the section is named next to each one.
const (
	// indexMagic starts every serialized index: "SBIX" as 4 bytes big endian
	// (docs/format/index.md §Header).
	indexMagic uint32 = 0x53424958

	// indexVersion1 is the only version written and read
	// (docs/format/index.md §Header, §Version history).
	indexVersion1 byte = 1

	// headerSize is magic <4b> + version <1b> + reserved <3b>
	// (docs/format/index.md §Header).
	headerSize = 8

	// sectionFrameSize is the overhead of a section: length <4b BE> before the
	// payload and CRC32C <4b BE> after it (docs/format/index.md §Sections).
	sectionFrameSize = 8

	// tocSize is three 8-byte section offsets and a CRC32C <4b>
	// (docs/format/index.md §TOC).
	tocSize = 3*8 + 4

	// maxSectionSize bounds a section payload; the length field is 4 bytes
	// (docs/format/index.md §Sections).
	maxSectionSize = 1<<32 - 1
)

// castagnoli is the CRC32C table used for every checksum of the format
// (docs/format/index.md §Sections).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)
