package postings

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Constants of the portable roaring serialization
// (https://github.com/RoaringBitmap/RoaringFormatSpec), which each postings
// list uses (docs/format/index.md §Postings).
const (
	roaringCookieNoRuns     = 12346 // <4b LE> then container count <4b LE>
	roaringCookieRuns       = 12347 // low 16 bits; high 16 bits are count-1
	roaringNoOffsetMax      = 4     // with runs, offsets only from this many containers
	roaringArrayMaxCard     = 4096  // above: an 8 KiB bitmap container
	roaringBitmapContainerB = 8192
)

// checkRoaring validates one serialized roaring bitmap in linear time and
// returns its cardinality. It checks everything the roaring library trusts
// when it maps the bytes (FromBuffer) plus the invariants its operations
// rely on: ascending keys, strictly ascending array values, sorted,
// disjoint, non-adjacent runs inside 16 bits, bitmap popcounts equal to the
// header, and exactly len(b) bytes consumed. The library's own Validate is
// not used: it is quadratic in the number of runs of a container.
func checkRoaring(b []byte) (uint64, error) {
	pos := 0
	need := func(n int, what string) error {
		if n < 0 || n > len(b)-pos {
			return fmt.Errorf("roaring %s of %d bytes overruns the %d-byte list at %d", what, n, len(b), pos)
		}
		return nil
	}
	if err := need(4, "cookie"); err != nil {
		return 0, err
	}
	cookie := binary.LittleEndian.Uint32(b)
	pos = 4
	var (
		size   int
		runBit []byte
	)
	switch {
	case cookie&0xFFFF == roaringCookieRuns:
		size = int(cookie>>16) + 1
		if err := need((size+7)/8, "run flags"); err != nil {
			return 0, err
		}
		runBit = b[pos : pos+(size+7)/8]
		pos += (size + 7) / 8
	case cookie == roaringCookieNoRuns:
		if err := need(4, "container count"); err != nil {
			return 0, err
		}
		n := binary.LittleEndian.Uint32(b[pos:])
		pos += 4
		if n > 1<<16 {
			return 0, fmt.Errorf("roaring container count %d exceeds 65536", n)
		}
		size = int(n)
	default:
		return 0, fmt.Errorf("roaring cookie %#x is not %d or %d", cookie, roaringCookieNoRuns, roaringCookieRuns)
	}
	if err := need(4*size, "container headers"); err != nil {
		return 0, err
	}
	headers := b[pos : pos+4*size]
	pos += 4 * size
	if runBit == nil || size >= roaringNoOffsetMax {
		if err := need(4*size, "offsets"); err != nil {
			return 0, err
		}
		pos += 4 * size // offsets are redundant; the library skips them too
	}
	var total uint64
	for i := range size {
		key := binary.LittleEndian.Uint16(headers[4*i:])
		card := int(binary.LittleEndian.Uint16(headers[4*i+2:])) + 1
		if i > 0 && key <= binary.LittleEndian.Uint16(headers[4*(i-1):]) {
			return 0, fmt.Errorf("roaring container %d key %d not above its predecessor", i, key)
		}
		switch {
		case runBit != nil && runBit[i/8]&(1<<(i%8)) != 0:
			if err := need(2, "run count"); err != nil {
				return 0, err
			}
			nr := int(binary.LittleEndian.Uint16(b[pos:]))
			pos += 2
			if nr == 0 {
				return 0, fmt.Errorf("roaring run container %d has no runs", i)
			}
			if err := need(4*nr, "runs"); err != nil {
				return 0, err
			}
			sum, next := 0, 0 // next: smallest start allowed, keeps runs disjoint and non-adjacent
			for j := range nr {
				start := int(binary.LittleEndian.Uint16(b[pos+4*j:]))
				length := int(binary.LittleEndian.Uint16(b[pos+4*j+2:])) // count-1
				if start < next || start+length > 0xFFFF {
					return 0, fmt.Errorf("roaring run %d of container %d [%d, +%d] overlaps, touches or leaves 16 bits", j, i, start, length)
				}
				next = start + length + 2
				sum += length + 1
			}
			pos += 4 * nr
			if sum != card {
				return 0, fmt.Errorf("roaring run container %d holds %d values, header says %d", i, sum, card)
			}
		case card > roaringArrayMaxCard:
			if err := need(roaringBitmapContainerB, "bitmap container"); err != nil {
				return 0, err
			}
			n := 0
			for j := 0; j < roaringBitmapContainerB; j += 8 {
				n += bits.OnesCount64(binary.LittleEndian.Uint64(b[pos+j:]))
			}
			pos += roaringBitmapContainerB
			if n != card {
				return 0, fmt.Errorf("roaring bitmap container %d holds %d values, header says %d", i, n, card)
			}
		default:
			if err := need(2*card, "array container"); err != nil {
				return 0, err
			}
			prev := -1
			for j := range card {
				v := int(binary.LittleEndian.Uint16(b[pos+2*j:]))
				if v <= prev {
					return 0, fmt.Errorf("roaring array container %d not strictly ascending at %d", i, j)
				}
				prev = v
			}
			pos += 2 * card
		}
		total += uint64(card)
	}
	if pos != len(b) {
		return 0, fmt.Errorf("roaring list ends at %d of its %d bytes", pos, len(b))
	}
	return total, nil
}

// appendRoaringValues appends the values of a serialized roaring bitmap
// that checkRoaring accepted and that holds at most roaringArrayMaxCard
// values (so it has no bitmap containers), without building a Bitmap: the
// Reader uses it for small lists, where decoding a Bitmap costs five
// allocations per list.
func appendRoaringValues(dst []uint32, b []byte) []uint32 {
	cookie := binary.LittleEndian.Uint32(b)
	pos := 4
	var (
		size   int
		runBit []byte
	)
	if cookie&0xFFFF == roaringCookieRuns {
		size = int(cookie>>16) + 1
		runBit = b[pos : pos+(size+7)/8]
		pos += (size + 7) / 8
	} else {
		size = int(binary.LittleEndian.Uint32(b[pos:]))
		pos += 4
	}
	headers := b[pos : pos+4*size]
	pos += 4 * size
	if runBit == nil || size >= roaringNoOffsetMax {
		pos += 4 * size
	}
	for i := range size {
		high := uint32(binary.LittleEndian.Uint16(headers[4*i:])) << 16
		card := int(binary.LittleEndian.Uint16(headers[4*i+2:])) + 1
		if runBit != nil && runBit[i/8]&(1<<(i%8)) != 0 {
			nr := int(binary.LittleEndian.Uint16(b[pos:]))
			pos += 2
			for j := range nr {
				start := uint32(binary.LittleEndian.Uint16(b[pos+4*j:]))
				length := uint32(binary.LittleEndian.Uint16(b[pos+4*j+2:]))
				for v := start; v <= start+length; v++ {
					dst = append(dst, high|v)
				}
			}
			pos += 4 * nr
			continue
		}
		for j := range card {
			dst = append(dst, high|uint32(binary.LittleEndian.Uint16(b[pos+2*j:])))
		}
		pos += 2 * card
	}
	return dst
}
