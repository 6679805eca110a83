package loadgen

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// rwSample is the size of a remote-write Sample message as loadgen writes
// it: tag, 8-byte double, tag, 6-byte timestamp varint (see rwTSLen).
const rwSample = 1 + 8 + 1 + rwTSLen

// appendRWSample appends the Sample field (number num of TimeSeries) with
// a zero value and timestamp slot and returns the offset of its value.
func appendRWSample(dst []byte, num protowire.Number) ([]byte, int32) {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	dst = protowire.AppendVarint(dst, rwSample)
	dst = protowire.AppendTag(dst, rw1SampleValue, protowire.Fixed64Type) // same number in 2.0
	at := int32(len(dst))
	dst = append(dst, make([]byte, 8)...)
	dst = protowire.AppendTag(dst, rw1SampleTimestamp, protowire.VarintType)
	return append(dst, make([]byte, rwTSLen)...), at
}

// rwTimestamp encodes t as a rwTSLen-byte varint.
func rwTimestamp(t int64) (b [rwTSLen]byte) {
	putVarintFixed(b[:], uint64(t))
	return b
}

// putVarintFixed writes v as a varint of exactly len(b) bytes; shorter
// values are padded with continuation bytes (0x80), which every protobuf
// decoder accepts (NB: the canonical form only when v needs len(b) bytes).
// v must fit in 7*len(b) bits.
func putVarintFixed(b []byte, v uint64) {
	for k := range len(b) - 1 {
		b[k] = byte(v) | 0x80
		v >>= 7
	}
	b[len(b)-1] = byte(v)
}

// patchRWSample writes value v and timestamp bytes ts at the value offset
// at of a pre-encoded sample in b.
func patchRWSample(b []byte, at int, v float64, ts *[rwTSLen]byte) {
	binary.LittleEndian.PutUint64(b[at:at+8], math.Float64bits(v))
	copy(b[at+9:at+9+rwTSLen], ts[:])
}

// rw1Encoder writes remote write 1.0: a WriteRequest whose TimeSeries each
// carry one series' sorted labels and one sample, snappy-compressed. Every
// TimeSeries is pre-encoded per host; a scrape patches the 8 value bytes
// and the 6 timestamp bytes of each.
type rw1Encoder struct {
	s     *shape
	hosts []rwHost
	buf   []byte // uncompressed request
	comp  []byte
}

// rwHost is a host's pre-encoded TimeSeries entries.
type rwHost struct {
	buf  []byte
	off  []int32 // series i is buf[off[i]:off[i+1]]
	vAt  []int32 // offset of series i's sample value in buf
	iAt  []int32 // remote write 2.0: offset of the instance value's ref
	ts   [rwTSLen]byte
	tsOf int64
	// remote write 2.0: the request (seq) the host's instance symbol was
	// last added to, and its ref there.
	reqSeq uint64
	ref    uint32
}

func newRW1Encoder(s *shape) *rw1Encoder { return &rw1Encoder{s: s} }

func (e *rw1Encoder) prepare(h *host) error {
	for len(e.hosts) <= h.local {
		e.hosts = append(e.hosts, rwHost{})
	}
	rh := &e.hosts[h.local]
	rh.buf, rh.off, rh.vAt = rh.buf[:0], append(rh.off[:0], 0), rh.vAt[:0]
	rh.tsOf = math.MinInt64
	var ts, lab []byte
	for i := range e.s.numSeries() {
		ss := &e.s.series[i]
		ts = ts[:0]
		for k, l := range ss.labels {
			v := l.Value
			if k == ss.instanceAt {
				v = h.instance
			}
			lab = protowire.AppendTag(lab[:0], rw1LabelName, protowire.BytesType)
			lab = protowire.AppendString(lab, l.Name)
			lab = protowire.AppendTag(lab, rw1LabelValue, protowire.BytesType)
			lab = protowire.AppendString(lab, v)
			ts = protowire.AppendTag(ts, rw1TimeSeriesLabels, protowire.BytesType)
			ts = protowire.AppendBytes(ts, lab)
		}
		ts, at := appendRWSample(ts, rw1TimeSeriesSamples)
		rh.buf = protowire.AppendTag(rh.buf, rw1WriteRequestTimeseries, protowire.BytesType)
		rh.buf = protowire.AppendVarint(rh.buf, uint64(len(ts)))
		rh.vAt = append(rh.vAt, int32(len(rh.buf))+at)
		rh.buf = append(rh.buf, ts...)
		rh.off = append(rh.off, int32(len(rh.buf)))
	}
	return nil
}

// addRW copies series [i, j) of host rh into buf, patching each sample with
// h's current scrape, and returns the new buffer and the samples added.
// inst, when non-nil, is written at each series' instance ref slot.
func addRW(buf []byte, rh *rwHost, h *host, i, j int, inst []byte) ([]byte, int) {
	if rh.tsOf != h.cur {
		rh.ts = rwTimestamp(h.cur)
		rh.tsOf = h.cur
	}
	if h.skip == nil {
		base := len(buf) - int(rh.off[i])
		buf = append(buf, rh.buf[rh.off[i]:rh.off[j]]...)
		for k := i; k < j; k++ {
			patchRWSample(buf, base+int(rh.vAt[k]), h.vals[k], &rh.ts)
			if inst != nil {
				copy(buf[base+int(rh.iAt[k]):], inst)
			}
		}
		return buf, j - i
	}
	n := 0
	for k := i; k < j; k++ {
		if h.skip[k] {
			continue
		}
		base := len(buf) - int(rh.off[k])
		buf = append(buf, rh.buf[rh.off[k]:rh.off[k+1]]...)
		patchRWSample(buf, base+int(rh.vAt[k]), h.vals[k], &rh.ts)
		if inst != nil {
			copy(buf[base+int(rh.iAt[k]):], inst)
		}
		n++
	}
	return buf, n
}

func (e *rw1Encoder) add(h *host, i, j int) int {
	var n int
	e.buf, n = addRW(e.buf, &e.hosts[h.local], h, i, j, nil)
	return n
}

func (e *rw1Encoder) finish(p *Payload) {
	e.comp = snappyBlock(e.comp, e.buf)
	p.Body, p.RawBytes = e.comp, len(e.buf)
	e.buf = e.buf[:0]
}

// rw2Encoder writes remote write 2.0: a Request with a symbol table and
// TimeSeries of label refs, one sample and metadata (type, help ref),
// snappy-compressed.
//
// Symbols: every request starts with the shape's table (every label name
// and value of the template, the job and the help texts; the same for all
// requests), followed by the instance values of the hosts the request
// carries, in order of first appearance. A host's TimeSeries are
// pre-encoded with a fixed-width slot for the instance value's ref, so a
// request patches the ref, the value and the timestamp of each series.
// The slot is wide enough for the largest ref a request can need
// (putVarintFixed pads smaller refs).
type rw2Encoder struct {
	s       *shape
	hosts   []rwHost
	symbols []byte   // the shape's table, encoded as Request.symbols fields
	insts   []string // instance symbols of the current request
	seq     uint64   // current request, for rwHost.reqSeq
	width   int      // bytes of an instance ref slot
	ts      []byte   // TimeSeries of the current request
	buf     []byte
	comp    []byte
}

func newRW2Encoder(s *shape, maxHosts int) *rw2Encoder {
	e := &rw2Encoder{s: s, seq: 1}
	for _, sym := range s.symbols {
		e.symbols = protowire.AppendTag(e.symbols, rw2RequestSymbols, protowire.BytesType)
		e.symbols = protowire.AppendString(e.symbols, sym)
	}
	e.width = protowire.SizeVarint(uint64(len(s.symbols) + max(1, maxHosts)))
	return e
}

// rw2Type maps a template type to Metadata.MetricType.
func rw2Type(t metricType) uint64 {
	switch t {
	case typeCounter:
		return rw2TypeCounter
	case typeGauge:
		return rw2TypeGauge
	case typeSummary:
		return rw2TypeSummary
	case typeHistogram:
		return rw2TypeHistogram
	}
	return rw2TypeUnspecified
}

func (e *rw2Encoder) prepare(h *host) error {
	for len(e.hosts) <= h.local {
		e.hosts = append(e.hosts, rwHost{})
	}
	rh := &e.hosts[h.local]
	rh.buf, rh.off, rh.vAt, rh.iAt = rh.buf[:0], append(rh.off[:0], 0), rh.vAt[:0], rh.iAt[:0]
	rh.tsOf = math.MinInt64
	rh.reqSeq = 0
	var ts, refs, md []byte
	for i := range e.s.numSeries() {
		ss := &e.s.series[i]
		refs = refs[:0]
		instAt := -1
		for k, r := range ss.refs {
			if k == 2*ss.instanceAt+1 {
				instAt = len(refs)
				refs = append(refs, make([]byte, e.width)...)
				continue
			}
			refs = protowire.AppendVarint(refs, uint64(r))
		}
		ts = protowire.AppendTag(ts[:0], rw2TimeSeriesLabelsRefs, protowire.BytesType)
		ts = protowire.AppendVarint(ts, uint64(len(refs)))
		instAt += len(ts)
		ts = append(ts, refs...)
		ts, at := appendRWSample(ts, rw2TimeSeriesSamples)
		md = protowire.AppendTag(md[:0], rw2MetadataType, protowire.VarintType)
		md = protowire.AppendVarint(md, rw2Type(ss.typ))
		if ss.helpRef != 0 {
			md = protowire.AppendTag(md, rw2MetadataHelpRef, protowire.VarintType)
			md = protowire.AppendVarint(md, uint64(ss.helpRef))
		}
		ts = protowire.AppendTag(ts, rw2TimeSeriesMetadata, protowire.BytesType)
		ts = protowire.AppendBytes(ts, md)
		rh.buf = protowire.AppendTag(rh.buf, rw2RequestTimeseries, protowire.BytesType)
		rh.buf = protowire.AppendVarint(rh.buf, uint64(len(ts)))
		rh.vAt = append(rh.vAt, int32(len(rh.buf))+at)
		rh.iAt = append(rh.iAt, int32(len(rh.buf)+instAt))
		rh.buf = append(rh.buf, ts...)
		rh.off = append(rh.off, int32(len(rh.buf)))
	}
	return nil
}

func (e *rw2Encoder) add(h *host, i, j int) int {
	rh := &e.hosts[h.local]
	if rh.reqSeq != e.seq {
		rh.reqSeq = e.seq
		rh.ref = uint32(len(e.s.symbols) + len(e.insts))
		e.insts = append(e.insts, h.instance)
		if protowire.SizeVarint(uint64(rh.ref)) > e.width {
			panic(fmt.Sprintf("BUG: loadgen: rw2 instance ref %d exceeds its %d-byte slot", rh.ref, e.width))
		}
	}
	var inst [5]byte
	putVarintFixed(inst[:e.width], uint64(rh.ref))
	var n int
	e.ts, n = addRW(e.ts, rh, h, i, j, inst[:e.width])
	return n
}

func (e *rw2Encoder) finish(p *Payload) {
	e.buf = append(e.buf[:0], e.symbols...)
	for _, s := range e.insts {
		e.buf = protowire.AppendTag(e.buf, rw2RequestSymbols, protowire.BytesType)
		e.buf = protowire.AppendString(e.buf, s)
	}
	e.buf = append(e.buf, e.ts...)
	e.comp = snappyBlock(e.comp, e.buf)
	p.Body, p.RawBytes = e.comp, len(e.buf)
	clear(e.insts)
	e.insts, e.ts = e.insts[:0], e.ts[:0]
	e.seq++
}
