package block

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"

	"github.com/silverback-tsdb/tsdb/internal/fsutil"
)

// Interval is a closed time range [MinT, MaxT] in milliseconds, as
// Prometheus tombstones use: both ends are deleted.
type Interval struct {
	MinT, MaxT int64
}

// Contains reports whether t lies in the interval.
func (iv Interval) Contains(t int64) bool { return iv.MinT <= t && t <= iv.MaxT }

// Overlaps reports whether the interval and [mint, maxt] share a point.
func (iv Interval) Overlaps(mint, maxt int64) bool { return iv.MinT <= maxt && mint <= iv.MaxT }

// Intervals is a sorted list of disjoint, non-adjacent intervals.
type Intervals []Interval

// Add returns the list with iv merged in (overlapping or adjacent
// intervals are joined), keeping it sorted. An interval with MinT > MaxT is
// ignored.
func (ivs Intervals) Add(iv Interval) Intervals {
	if iv.MinT > iv.MaxT {
		return ivs
	}
	out := make(Intervals, 0, len(ivs)+1)
	i := 0
	// Keep the intervals that end before iv and do not touch it.
	for ; i < len(ivs) && ivs[i].MaxT < iv.MinT && ivs[i].MaxT+1 < iv.MinT; i++ {
		out = append(out, ivs[i])
	}
	// Join the ones that overlap iv or touch its end.
	for ; i < len(ivs) && (iv.MaxT == maxInt64 || ivs[i].MinT <= iv.MaxT+1); i++ {
		iv.MinT = min(iv.MinT, ivs[i].MinT)
		iv.MaxT = max(iv.MaxT, ivs[i].MaxT)
	}
	out = append(out, iv)
	return append(out, ivs[i:]...)
}

const maxInt64 = 1<<63 - 1

// Contains reports whether t lies in one of the intervals.
func (ivs Intervals) Contains(t int64) bool {
	i, _ := slices.BinarySearchFunc(ivs, t, func(iv Interval, t int64) int {
		if iv.MaxT < t {
			return -1
		}
		if iv.MinT > t {
			return 1
		}
		return 0
	})
	return i < len(ivs) && ivs[i].Contains(t)
}

// Overlaps reports whether any interval shares a point with [mint, maxt].
func (ivs Intervals) Overlaps(mint, maxt int64) bool {
	for _, iv := range ivs {
		if iv.Overlaps(mint, maxt) {
			return true
		}
	}
	return false
}

// Covers reports whether the intervals together contain all of [mint, maxt].
func (ivs Intervals) Covers(mint, maxt int64) bool {
	for _, iv := range ivs {
		if iv.MinT <= mint && maxt <= iv.MaxT {
			return true
		}
	}
	return false
}

// Tombstones maps a block series ref to its deleted intervals. A value
// obtained from a Block is shared and must not be modified.
type Tombstones map[uint32]Intervals

// count returns the number of intervals in ts.
func (ts Tombstones) count() uint64 {
	n := 0
	for _, ivs := range ts {
		n += len(ivs)
	}
	return uint64(n)
}

// encodeTombstones appends the tombstones file (docs/format/block.md
// §Tombstones) to dst. Interval lists are normalised (sorted and merged);
// refs are written in ascending order, so equal tombstones encode equally.
func encodeTombstones(dst []byte, ts Tombstones) []byte {
	start := len(dst)
	dst = appendHeader(dst, tombstonesMagic, tombstonesVersion1)
	refs := make([]uint32, 0, len(ts))
	for ref, ivs := range ts {
		if len(ivs) > 0 {
			refs = append(refs, ref)
		}
	}
	slices.Sort(refs)
	dst = binary.AppendUvarint(dst, uint64(len(refs)))
	prev := uint32(0)
	for i, ref := range refs {
		var norm Intervals
		for _, iv := range ts[ref] {
			norm = norm.Add(iv)
		}
		if i == 0 {
			dst = binary.AppendUvarint(dst, uint64(ref))
		} else {
			dst = binary.AppendUvarint(dst, uint64(ref-prev))
		}
		prev = ref
		dst = binary.AppendUvarint(dst, uint64(len(norm)))
		for _, iv := range norm {
			dst = binary.AppendVarint(dst, iv.MinT)
			dst = binary.AppendUvarint(dst, uint64(iv.MaxT-iv.MinT))
		}
	}
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeTombstones parses a tombstones file. An empty b means no
// tombstones. numSeries bounds the refs.
func decodeTombstones(dir string, b []byte, numSeries int) (Tombstones, error) {
	if len(b) == 0 {
		return Tombstones{}, nil
	}
	corrupt := func(off int, err error) error {
		return &CorruptionError{Block: dir, File: tombstonesFilename, Offset: int64(off), Err: err}
	}
	if len(b) < headerSize+1+crcSize {
		return nil, corrupt(0, fmt.Errorf("file of %d bytes: %w", len(b), errTruncated))
	}
	if m := binary.BigEndian.Uint32(b); m != tombstonesMagic {
		return nil, corrupt(0, fmt.Errorf("%w %#08x", errBadMagic, m))
	}
	if b[4] != tombstonesVersion1 {
		return nil, fmt.Errorf("block %s tombstones version %d (want %d): %w", dir, b[4], tombstonesVersion1, ErrUnsupportedVersion)
	}
	end := len(b) - crcSize
	if got, want := crc32.Checksum(b[:end], castagnoli), binary.BigEndian.Uint32(b[end:]); got != want {
		return nil, corrupt(end, fmt.Errorf("%w: computed %#08x, stored %#08x", errCRC, got, want))
	}
	if b[5]|b[6]|b[7] != 0 {
		return nil, corrupt(5, errReserved)
	}
	d := decoder{b: b[:end], off: headerSize}
	n := d.count(2)
	ts := make(Tombstones, n)
	ref := uint64(0)
	for i := 0; i < n && d.err == nil; i++ {
		at := d.off
		delta := d.uvarint()
		if i > 0 && delta == 0 {
			return nil, corrupt(at, errors.New("series refs not increasing"))
		}
		ref += delta
		if ref >= uint64(numSeries) {
			return nil, corrupt(at, fmt.Errorf("series ref %d >= %d series", ref, numSeries))
		}
		k := d.count(2)
		ivs := make(Intervals, 0, k)
		for j := 0; j < k && d.err == nil; j++ {
			at := d.off
			mint := d.varint()
			span := d.uvarint()
			// NB: a span may exceed MaxInt64 ([MinInt64, MaxInt64] is a
			// valid "delete everything"); it must only keep MaxT in range.
			// maxInt64-mint wraps to the right unsigned bound.
			iv := Interval{MinT: mint, MaxT: int64(uint64(mint) + span)}
			if span > uint64(maxInt64-mint) || (j > 0 && (ivs[j-1].MaxT == maxInt64 || iv.MinT <= ivs[j-1].MaxT+1)) {
				return nil, corrupt(at, errors.New("intervals not sorted and disjoint"))
			}
			ivs = append(ivs, iv)
		}
		ts[uint32(ref)] = ivs
	}
	if d.err != nil {
		return nil, corrupt(d.errOff, d.err)
	}
	if d.off != end {
		return nil, corrupt(d.off, errTrailing)
	}
	return ts, nil
}

// WriteTombstones atomically replaces dir/tombstones with ts (temp file,
// fsync, rename, fsync dir). It does not update an open Block of dir: use
// Block.SetTombstones for that.
func WriteTombstones(dir string, ts Tombstones) error {
	return fsutil.WriteFile(filepath.Join(dir, tombstonesFilename), encodeTombstones(nil, ts), 0o644)
}

// ReadTombstones reads and verifies dir/tombstones for a block of numSeries
// series; a missing or empty file means no tombstones.
func ReadTombstones(dir string, numSeries int) (Tombstones, error) {
	b, err := os.ReadFile(filepath.Join(dir, tombstonesFilename))
	if err != nil {
		if os.IsNotExist(err) {
			return Tombstones{}, nil
		}
		return nil, fmt.Errorf("read tombstones of block %s: %w", dir, err)
	}
	return decodeTombstones(dir, b, numSeries)
}

// decoder reads varints from b, remembering the first error.
type decoder struct {
	b      []byte
	off    int
	err    error
	errOff int
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err, d.errOff = err, d.off
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Uvarint(d.b[d.off:])
	return d.advance(v, k)
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Varint(d.b[d.off:])
	return int64(d.advance(uint64(v), k))
}

// advance consumes a varint of k bytes (k from binary.Uvarint or Varint:
// 0 means truncated, negative overflowed) and returns v, or 0 on failure.
func (d *decoder) advance(v uint64, k int) uint64 {
	if k <= 0 {
		if k == 0 {
			d.fail(errTruncated)
		} else {
			d.fail(errBadVarint)
		}
		return 0
	}
	d.off += k
	return v
}

// count reads a uvarint element count, each element taking at least
// minSize bytes, and rejects counts the remaining bytes cannot hold, so a
// damaged count never causes a huge allocation.
func (d *decoder) count(minSize int) int {
	at := d.off
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.b)-d.off)/uint64(minSize) {
		d.err, d.errOff = fmt.Errorf("count %d exceeds the %d remaining bytes: %w", n, len(d.b)-d.off, errTruncated), at
		return 0
	}
	return int(n)
}
