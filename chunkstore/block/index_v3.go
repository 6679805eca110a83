package block

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Index version 3 (docs/format/block.md §Index version 3): the bytes of a
// version-2 index file after its header (the image), compressed whole:
//
//	header <8b> (SBBI, 3) | image length <4b BE> | zstd frame | CRC32C <4b BE>
//
// The CRC covers every preceding byte. A reader decompresses the image to
// the heap and parses it as version 2.

// compressIndexLimit is defaultCompressIndexLimit; tests lower it.
var compressIndexLimit = defaultCompressIndexLimit

// v3FrameSize is the fixed part of a version-3 index: header, image
// length and CRC.
const v3FrameSize = headerSize + 4 + crcSize

var (
	indexEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false), zstd.WithSingleSegment(true))
	})
	indexDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
		return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(maxIndexImage), zstd.WithDecodeAllCapLimit(true))
	})
)

// compressIndex returns the version-3 index file of img, a complete
// version-2 index file (header included). EncodeAll is safe for
// concurrent use.
func compressIndex(img []byte) ([]byte, error) {
	enc, err := indexEncoder()
	if err != nil {
		return nil, err
	}
	out := appendHeader(make([]byte, 0, len(img)/3+64), indexMagic, indexVersion3)
	out = binary.BigEndian.AppendUint32(out, uint32(len(img)-headerSize))
	out = enc.EncodeAll(img[headerSize:], out)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, castagnoli)), nil
}

// decompressIndex checks a version-3 index file b (header already checked
// by the caller) and returns its version-2 image with a version-2 header,
// on the heap. Offsets in errors about the image are offsets in it.
func decompressIndex(dir string, b []byte) ([]byte, error) {
	corrupt := func(off int64, err error) error {
		return &CorruptionError{Block: dir, File: indexFilename, Offset: off, Err: err}
	}
	if len(b) < v3FrameSize {
		return nil, corrupt(0, fmt.Errorf("index of %d bytes: %w", len(b), errTruncated))
	}
	end := len(b) - crcSize
	if got, want := crc32.Checksum(b[:end], castagnoli), binary.BigEndian.Uint32(b[end:]); got != want {
		return nil, corrupt(int64(end), fmt.Errorf("compressed index %w: computed %#08x, stored %#08x", errCRC, got, want))
	}
	n := binary.BigEndian.Uint32(b[headerSize:])
	if n > maxIndexImage {
		return nil, corrupt(headerSize, fmt.Errorf("index image of %d bytes exceeds %d", n, maxIndexImage))
	}
	dec, err := indexDecoder()
	if err != nil {
		return nil, err
	}
	img := appendHeader(make([]byte, 0, headerSize+int(n)), indexMagic, indexVersion2)
	img, err = dec.DecodeAll(b[headerSize+4:end], img)
	if err != nil {
		return nil, corrupt(headerSize+4, fmt.Errorf("compressed index: %w", err))
	}
	if len(img) != headerSize+int(n) {
		return nil, corrupt(headerSize, fmt.Errorf("index image of %d bytes, header says %d: %w", len(img)-headerSize, n, errMismatch))
	}
	return img, nil
}
