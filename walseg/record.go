package walseg

import (
	"encoding/binary"
	"math"

	"github.com/prometheus/prometheus/model/labels"
)

// RefSeries binds a shard-local series reference to its label set. A later
// series record for the same Ref supersedes an earlier one in replay order:
// the head recycles refs of garbage-collected series.
type RefSeries struct {
	Ref    uint32
	Labels labels.Labels
}

// RefSample is one sample of the series Ref: T in ms since the Unix epoch,
// V stored bit-exact (NaN payloads such as the stale marker survive).
type RefSample struct {
	Ref uint32
	T   int64
	V   float64
}

// Tombstone deletes the samples of series Ref with MinT <= t <= MaxT (ms).
type Tombstone struct {
	Ref  uint32
	MinT int64
	MaxT int64
}

// Type returns the type of an encoded record (its first byte), or
// RecordInvalid for an empty one.
func Type(rec []byte) RecordType {
	if len(rec) == 0 {
		return RecordInvalid
	}
	return RecordType(rec[0])
}

// AppendSeries appends a series record holding s to dst and returns the
// extended slice. Labels are written in their (sorted) iteration order.
func AppendSeries(dst []byte, s []RefSeries) []byte {
	dst = append(dst, byte(RecordSeries))
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	for i := range s {
		dst = binary.AppendUvarint(dst, uint64(s[i].Ref))
		dst = binary.AppendUvarint(dst, uint64(s[i].Labels.Len()))
		s[i].Labels.Range(func(l labels.Label) {
			dst = binary.AppendUvarint(dst, uint64(len(l.Name)))
			dst = append(dst, l.Name...)
			dst = binary.AppendUvarint(dst, uint64(len(l.Value)))
			dst = append(dst, l.Value...)
		})
	}
	return dst
}

// DecodeSeries appends the series of the series record rec to dst. It
// allocates the label strings (series records are rare next to samples).
// It returns an ErrCorrupt-marked error naming the byte offset for any
// malformed input and never panics.
func DecodeSeries(dst []RefSeries, rec []byte) ([]RefSeries, error) {
	d := decoder{b: rec}
	if err := d.header(RecordSeries); err != nil {
		return dst, err
	}
	n := d.count(2) // smallest series: ref <1b> and zero labels <1b>
	var b labels.ScratchBuilder
	for i := uint64(0); i < n && d.err == nil; i++ {
		ref := d.ref()
		nl := d.count(4) // smallest label: two lengths and one byte each
		b.Reset()
		for j := uint64(0); j < nl && d.err == nil; j++ {
			name := d.str()
			value := d.str()
			if d.err == nil {
				b.Add(name, value)
			}
		}
		if d.err == nil {
			dst = append(dst, RefSeries{Ref: ref, Labels: b.Labels()})
		}
	}
	return dst, d.finish()
}

// AppendSamples appends a samples record holding s to dst and returns the
// extended slice. Layout (docs/format/wal.md §4.2): count, then the first
// sample's ref and t as bases, each sample as ref delta to the previous
// sample, t delta to the base, and the 8 raw value bytes. It does not
// allocate when dst has room.
func AppendSamples(dst []byte, s []RefSample) []byte {
	return appendSamples(dst, RecordSamples, s)
}

// AppendOOOSamples appends an out-of-order samples record (RecordOOOSamples,
// the body of a samples record) holding s to dst.
func AppendOOOSamples(dst []byte, s []RefSample) []byte {
	return appendSamples(dst, RecordOOOSamples, s)
}

// DecodeOOOSamples is DecodeSamples for a RecordOOOSamples record.
func DecodeOOOSamples(dst []RefSample, rec []byte) ([]RefSample, error) {
	return decodeSamples(dst, rec, RecordOOOSamples)
}

func appendSamples(dst []byte, typ RecordType, s []RefSample) []byte {
	dst = append(dst, byte(typ))
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	if len(s) == 0 {
		return dst
	}
	baseT := s[0].T
	dst = binary.AppendVarint(dst, baseT)
	prevRef := int64(0)
	for i := range s {
		ref := int64(s[i].Ref)
		dst = binary.AppendVarint(dst, ref-prevRef)
		prevRef = ref
		// NB: wrapping subtraction; the decoder adds back with the same wrap.
		dst = binary.AppendVarint(dst, int64(uint64(s[i].T)-uint64(baseT)))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(s[i].V))
	}
	return dst
}

// DecodeSamples appends the samples of the samples record rec to dst. It
// does not allocate when dst has capacity for them, never writes into rec,
// and returns an ErrCorrupt-marked error for malformed input.
func DecodeSamples(dst []RefSample, rec []byte) ([]RefSample, error) {
	return decodeSamples(dst, rec, RecordSamples)
}

func decodeSamples(dst []RefSample, rec []byte, typ RecordType) ([]RefSample, error) {
	d := decoder{b: rec}
	if err := d.header(typ); err != nil {
		return dst, err
	}
	n := d.count(10) // smallest sample: ref delta, t delta, 8 value bytes
	if n == 0 || d.err != nil {
		return dst, d.finish()
	}
	baseT := d.varint()
	prevRef := int64(0)
	for i := uint64(0); i < n && d.err == nil; i++ {
		ref := prevRef + d.varint()
		if ref < 0 || ref > math.MaxUint32 {
			d.fail("sample ref out of uint32 range")
			break
		}
		prevRef = ref
		t := int64(uint64(baseT) + uint64(d.varint()))
		v := d.u64()
		if d.err != nil {
			break
		}
		dst = append(dst, RefSample{Ref: uint32(ref), T: t, V: math.Float64frombits(v)})
	}
	return dst, d.finish()
}

// AppendTombstones appends a tombstones record holding s to dst.
func AppendTombstones(dst []byte, s []Tombstone) []byte {
	dst = append(dst, byte(RecordTombstones))
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	for i := range s {
		dst = binary.AppendUvarint(dst, uint64(s[i].Ref))
		dst = binary.AppendVarint(dst, s[i].MinT)
		dst = binary.AppendVarint(dst, s[i].MaxT)
	}
	return dst
}

// DecodeTombstones appends the tombstones of rec to dst; it does not
// allocate when dst has room and returns an ErrCorrupt-marked error for
// malformed input.
func DecodeTombstones(dst []Tombstone, rec []byte) ([]Tombstone, error) {
	d := decoder{b: rec}
	if err := d.header(RecordTombstones); err != nil {
		return dst, err
	}
	n := d.count(3)
	for i := uint64(0); i < n && d.err == nil; i++ {
		ref := d.ref()
		mint := d.varint()
		maxt := d.varint()
		if d.err == nil {
			dst = append(dst, Tombstone{Ref: ref, MinT: mint, MaxT: maxt})
		}
	}
	return dst, d.finish()
}

// decoder reads a record body with a sticky error; every read checks the
// remaining length first, so no input can make it panic.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = errDecode(what, d.off)
	}
}

func (d *decoder) header(want RecordType) error {
	if len(d.b) == 0 {
		return errDecode("empty record", 0)
	}
	if RecordType(d.b[0]) != want {
		return errDecode("record type "+RecordType(d.b[0]).String()+", want "+want.String(), 0)
	}
	d.off = 1
	return nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

// count reads an element count and rejects counts that cannot fit in the
// remaining bytes at minSize bytes each, so a garbage count never makes a
// caller allocate or loop beyond the input size.
func (d *decoder) count(minSize int) uint64 {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)-d.off)/uint64(minSize) {
		d.fail("count exceeds record length")
		return 0
	}
	return n
}

func (d *decoder) ref() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail("ref out of uint32 range")
		return 0
	}
	return uint32(v)
}

func (d *decoder) u64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b)-d.off < 8 {
		d.fail("truncated value")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail("truncated string")
		return ""
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return s
}

// finish reports the sticky error or trailing bytes after the last element.
func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("trailing bytes")
	}
	return d.err
}
