package postings

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"
	"strings"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/prometheus/prometheus/model/labels"
)

// Reader answers queries from a serialized index (docs/format/index.md),
// typically the index of an immutable block read through mmap.
//
// Immutable after NewReader and safe for concurrent use by any number of
// goroutines. It keeps referencing the bytes given to NewReader: they must
// stay valid and unmodified for the Reader's lifetime (for an mmap'd file,
// do not unmap while a query runs). Everything a Reader returns (bitmaps,
// strings, Stats) is copied and owned by the caller, so results outlive
// the bytes.
type Reader struct {
	b         []byte    // the whole serialized index; never written
	postings  []byte    // payload of the postings section
	postOff   int64     // offset of postings in b, for error messages
	syms      []string  // symbol table; strings alias b
	names     []rName   // sorted by name
	nameStrs  []string  // names[i].name, for labelNames
	all       rPostings // every series
	numSeries int
}

type rName struct {
	name      string
	values    []rPostings // sorted by value
	valueStrs []string    // value of values[i], sorted
}

// rPostings locates one postings list in the postings payload.
type rPostings struct {
	off  uint32 // within the postings payload
	n    uint32 // bytes
	card uint64 // series in the list
}

// NewReader checks every section checksum and the structure of a serialized
// index and returns a Reader over it. b may be mmap'd; it is never written.
// Malformed bytes never panic: they return an error for which
// errors.Is(err, ErrCorrupt) holds, naming the offset; a well-formed header
// of an unknown version returns an error wrapping ErrUnsupportedVersion.
// NewReader reads every byte once (checksums, then the structure of every
// postings list), so queries need no further validation.
func NewReader(b []byte) (*Reader, error) {
	if len(b) < headerSize+3*sectionFrameSize+tocSize {
		return nil, corruptf("header", 0, "index of %d bytes is shorter than the minimum %d", len(b), headerSize+3*sectionFrameSize+tocSize)
	}
	if m := binary.BigEndian.Uint32(b); m != indexMagic {
		return nil, corruptf("header", 0, "magic %#08x (want %#08x)", m, indexMagic)
	}
	if v := b[4]; v != indexVersion1 {
		return nil, fmt.Errorf("postings index version %d (want %d): %w", v, indexVersion1, ErrUnsupportedVersion)
	}
	if b[5]|b[6]|b[7] != 0 {
		return nil, corruptf("header", 5, "reserved bytes %x are not zero", b[5:8])
	}

	tocAt := len(b) - tocSize
	toc := b[tocAt:]
	if got, want := crc32.Checksum(toc[:24], castagnoli), binary.BigEndian.Uint32(toc[24:]); got != want {
		return nil, corruptf("toc", int64(tocAt), "crc32c %#08x (stored %#08x)", got, want)
	}
	offs := [4]uint64{
		binary.BigEndian.Uint64(toc[0:]),
		binary.BigEndian.Uint64(toc[8:]),
		binary.BigEndian.Uint64(toc[16:]),
		uint64(tocAt),
	}
	if offs[0] != headerSize {
		return nil, corruptf("toc", int64(tocAt), "symbols section at %d (want %d)", offs[0], headerSize)
	}
	var payloads [3][]byte
	for i, name := range [3]string{"symbols", "postings", "label index"} {
		p, err := readSection(b, name, offs[i], offs[i+1])
		if err != nil {
			return nil, err
		}
		payloads[i] = p
	}

	r := &Reader{b: b, postings: payloads[1], postOff: int64(offs[1]) + 4}
	if err := r.decodeSymbols(payloads[0], int64(offs[0])+4); err != nil {
		return nil, err
	}
	if err := r.decodeLabelIndex(payloads[2], int64(offs[2])+4); err != nil {
		return nil, err
	}
	return r, nil
}

// readSection returns the payload of the section spanning b[start:end],
// checking its length field and CRC32C.
func readSection(b []byte, name string, start, end uint64) ([]byte, error) {
	if start > end || end > uint64(len(b)) || end-start < sectionFrameSize {
		return nil, corruptf("toc", int64(len(b)-tocSize), "%s section spans [%d, %d) in an index of %d bytes", name, start, end, len(b))
	}
	s := b[start:end]
	n := uint64(binary.BigEndian.Uint32(s))
	if n != uint64(len(s))-sectionFrameSize {
		return nil, corruptf(name, int64(start), "length %d, but the TOC leaves %d bytes", n, uint64(len(s))-sectionFrameSize)
	}
	payload := s[4 : 4+n]
	if got, want := crc32.Checksum(payload, castagnoli), binary.BigEndian.Uint32(s[4+n:]); got != want {
		return nil, corruptf(name, int64(start), "crc32c %#08x (stored %#08x)", got, want)
	}
	return payload, nil
}

// decoder reads uvarints from a section payload, remembering the first
// error.
type decoder struct {
	b       []byte
	pos     int
	base    int64 // offset of b in the whole index
	section string
	err     error
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 {
		d.err = corruptf(d.section, d.base+int64(d.pos), "bad uvarint for %s", what)
		return 0
	}
	d.pos += n
	return v
}

// count reads a count of items each taking at least minSize bytes, so a
// garbage count cannot make the reader allocate more than the input size.
func (d *decoder) count(what string, minSize int) int {
	at := d.pos
	v := d.uvarint(what)
	if d.err == nil && v > uint64((len(d.b)-d.pos)/minSize) {
		d.err = corruptf(d.section, d.base+int64(at), "%s %d does not fit in the %d bytes left", what, v, len(d.b)-d.pos)
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b)-d.pos {
		d.err = corruptf(d.section, d.base+int64(d.pos), "%s of %d bytes overruns the section (%d left)", what, n, len(d.b)-d.pos)
		return nil
	}
	p := d.b[d.pos : d.pos+n]
	d.pos += n
	return p
}

func (d *decoder) done() error {
	if d.err == nil && d.pos != len(d.b) {
		d.err = corruptf(d.section, d.base+int64(d.pos), "%d trailing bytes", len(d.b)-d.pos)
	}
	return d.err
}

func (r *Reader) decodeSymbols(p []byte, base int64) error {
	d := &decoder{b: p, base: base, section: "symbols"}
	n := d.count("symbol count", 2)
	r.syms = make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		at := d.pos
		l := d.uvarint("symbol length")
		if d.err == nil && l > uint64(len(p)) {
			l = uint64(len(p)) + 1 // let bytes report the overrun
		}
		s := d.bytes(int(l), "symbol")
		if d.err != nil {
			break
		}
		if len(s) == 0 {
			return corruptf("symbols", base+int64(at), "symbol %d is empty", i)
		}
		str := unsafe.String(unsafe.SliceData(s), len(s))
		if i > 0 && r.syms[i-1] >= str {
			return corruptf("symbols", base+int64(at), "symbol %d is not above its predecessor", i)
		}
		r.syms = append(r.syms, str)
	}
	return d.done()
}

func (r *Reader) decodeLabelIndex(p []byte, base int64) error {
	d := &decoder{b: p, base: base, section: "label index"}
	var err error
	if r.all, err = r.readPostingsRef(d, false); err != nil {
		return err
	}
	if err := r.check(r.all); err != nil {
		return err
	}
	r.numSeries = int(r.all.card)
	nNames := d.count("label name count", 2)
	r.names = make([]rName, 0, nNames)
	r.nameStrs = make([]string, 0, nNames)
	for i := 0; i < nNames && d.err == nil; i++ {
		at := d.pos
		name, err := r.symbol(d, "label name")
		if err != nil {
			return err
		}
		if i > 0 && r.nameStrs[i-1] >= name {
			return corruptf("label index", base+int64(at), "label name %d is not above its predecessor", i)
		}
		nValues := d.count("value count", 4)
		if d.err == nil && nValues == 0 {
			return corruptf("label index", base+int64(at), "label name %q has no values", name)
		}
		rn := rName{name: name, values: make([]rPostings, 0, nValues), valueStrs: make([]string, 0, nValues)}
		for j := 0; j < nValues && d.err == nil; j++ {
			at := d.pos
			v, err := r.symbol(d, "label value")
			if err != nil {
				return err
			}
			if j > 0 && rn.valueStrs[j-1] >= v {
				return corruptf("label index", base+int64(at), "value %d of %q is not above its predecessor", j, name)
			}
			rp, err := r.readPostingsRef(d, true)
			if err != nil {
				return err
			}
			if err := r.check(rp); err != nil {
				return err
			}
			if d.err == nil && (rp.card == 0 || rp.card > r.all.card) {
				return corruptf("label index", base+int64(at), "%s=%q has %d series (index has %d)", name, v, rp.card, r.all.card)
			}
			rn.values = append(rn.values, rp)
			rn.valueStrs = append(rn.valueStrs, v)
		}
		r.names = append(r.names, rn)
		r.nameStrs = append(r.nameStrs, name)
	}
	return d.done()
}

func (r *Reader) symbol(d *decoder, what string) (string, error) {
	at := d.pos
	id := d.uvarint(what)
	if d.err != nil {
		return "", d.err
	}
	if id >= uint64(len(r.syms)) {
		return "", corruptf(d.section, d.base+int64(at), "%s symbol %d out of range (%d symbols)", what, id, len(r.syms))
	}
	return r.syms[id], nil
}

// readPostingsRef reads offset, length and cardinality of a postings list
// (the all-series list has no offset: it starts the payload).
func (r *Reader) readPostingsRef(d *decoder, withOffset bool) (rPostings, error) {
	at := d.pos
	var off uint64
	if withOffset {
		off = d.uvarint("postings offset")
	}
	n := d.uvarint("postings length")
	card := d.uvarint("postings cardinality")
	if d.err != nil {
		return rPostings{}, d.err
	}
	if off > uint64(len(r.postings)) || n > uint64(len(r.postings))-off || n == 0 {
		return rPostings{}, corruptf(d.section, d.base+int64(at), "postings [%d, +%d) outside the %d-byte postings payload", off, n, len(r.postings))
	}
	if card > 1<<32 {
		return rPostings{}, corruptf(d.section, d.base+int64(at), "postings cardinality %d exceeds 2^32", card)
	}
	return rPostings{off: uint32(off), n: uint32(n), card: card}, nil
}

// check validates the postings list p once, at NewReader, so queries can
// map it without further checks.
func (r *Reader) check(p rPostings) error {
	at := r.postOff + int64(p.off)
	card, err := checkRoaring(r.postings[p.off : p.off+p.n])
	if err != nil {
		return &CorruptionError{Section: "postings", Offset: at, Err: err}
	}
	if card != p.card {
		return corruptf("postings", at, "list holds %d series (label index says %d)", card, p.card)
	}
	return nil
}

// decode returns the bitmap of one postings list, checked by NewReader. It
// aliases r.b (copy-on-write containers): read-only, and it must be
// detached before it leaves the Reader.
func (r *Reader) decode(p rPostings) (*roaring.Bitmap, error) {
	bm := roaring.New()
	n, err := bm.FromBuffer(r.postings[p.off : p.off+p.n])
	if err != nil || n != int64(p.n) {
		// Unreachable after check; kept so a disagreement between check and
		// the library surfaces as an error, not as a wrong answer.
		return nil, corruptf("postings", r.postOff+int64(p.off), "list decoded from %d of its %d bytes: %v", n, p.n, err)
	}
	return bm, nil
}

func (r *Reader) findName(name string) *rName {
	i := sort.SearchStrings(r.nameStrs, name)
	if i == len(r.nameStrs) || r.nameStrs[i] != name {
		return nil
	}
	return &r.names[i]
}

// NumSeries returns the number of series in the index.
func (r *Reader) NumSeries() int { return r.numSeries }

// Select is Index.Select over the serialized index. Errors also include
// corruption found while decoding a postings list (errors.Is ErrCorrupt).
func (r *Reader) Select(ms ...*labels.Matcher) (*roaring.Bitmap, error) {
	return selectPostings(r, ms, true)
}

// LabelNames is Index.LabelNames over the serialized index.
func (r *Reader) LabelNames(ms ...*labels.Matcher) ([]string, error) {
	return labelNamesFor(r, ms, true)
}

// LabelValues is Index.LabelValues over the serialized index.
func (r *Reader) LabelValues(name string, ms ...*labels.Matcher) ([]string, error) {
	return labelValuesFor(r, name, ms, true)
}

// Stats is Index.Stats over the serialized index. It reads only the label
// index, never the postings lists.
func (r *Reader) Stats(topN int) Stats {
	return statsFor(r, r.numSeries, topN, true)
}

// lookup implements source.
func (r *Reader) lookup(h *hits, name, value string) error {
	rn := r.findName(name)
	if rn == nil {
		return nil
	}
	i := sort.SearchStrings(rn.valueStrs, value)
	if i == len(rn.valueStrs) || rn.valueStrs[i] != value {
		return nil
	}
	return r.addTo(h, rn.values[i])
}

// addTo adds list p to h: small lists as refs, read straight from the
// bytes, larger ones as a bitmap mapped onto them.
func (r *Reader) addTo(h *hits, p rPostings) error {
	if p.card <= smallList {
		h.refs = appendRoaringValues(h.refs, r.postings[p.off:p.off+p.n])
		return nil
	}
	bm, err := r.decode(p)
	if err != nil {
		return err
	}
	h.bms = append(h.bms, bm)
	return nil
}

// collect implements source.
func (r *Reader) collect(h *hits, name, prefix string, m *labels.Matcher, want bool) error {
	rn := r.findName(name)
	if rn == nil {
		return nil
	}
	for i := sort.SearchStrings(rn.valueStrs, prefix); i < len(rn.values) && strings.HasPrefix(rn.valueStrs[i], prefix); i++ {
		if m != nil && m.Matches(rn.valueStrs[i]) != want {
			continue
		}
		if err := r.addTo(h, rn.values[i]); err != nil {
			return err
		}
	}
	return nil
}

// labelNames implements source.
func (r *Reader) labelNames() []string { return r.nameStrs }

// labelValues implements source.
func (r *Reader) labelValues(name string) []string {
	if rn := r.findName(name); rn != nil {
		return rn.valueStrs
	}
	return nil
}

// card implements source.
func (r *Reader) card(name, value string) uint64 {
	rn := r.findName(name)
	if rn == nil {
		return 0
	}
	i := sort.SearchStrings(rn.valueStrs, value)
	if i == len(rn.valueStrs) || rn.valueStrs[i] != value {
		return 0
	}
	return rn.values[i].card
}
