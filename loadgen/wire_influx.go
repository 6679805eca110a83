package loadgen

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// influxEncoder writes InfluxDB line protocol: per sample
//
//	<name>,<label>=<value>,... value=<float> <ns>\n
//
// with the metric name as measurement, the other labels as tags in label
// order, one float field "value" and a nanosecond timestamp (milliseconds
// followed by six zeros, so no precision parameter is needed). Each series'
// "<name>,<tags> value=" prefix is pre-encoded per host; the value's text
// is cached per series and formatted again (strconv 'g', shortest, as
// exposition text prints it) only when the value changed; the timestamp's
// text is formatted once per scrape. Non-finite values, which the line
// protocol cannot carry, are skipped.
type influxEncoder struct {
	s       *shape
	hosts   []influxHost // by host.local
	buf     []byte
	scratch []labels.Label
}

type influxHost struct {
	prefix []byte  // concatenated "<name>,<tags> value=" of every series
	off    []int32 // series i's prefix is prefix[off[i]:off[i+1]]
	vtext  [][24]byte
	vlen   []uint8 // 0: not formatted yet
	vbits  []uint64
	ts     []byte // " <ns>\n" of tsFor
	tsFor  int64
}

func newInfluxEncoder(s *shape) *influxEncoder { return &influxEncoder{s: s} }

func (e *influxEncoder) prepare(h *host) error {
	for len(e.hosts) <= h.local {
		e.hosts = append(e.hosts, influxHost{})
	}
	ih := &e.hosts[h.local]
	n := e.s.numSeries()
	ih.prefix = ih.prefix[:0]
	ih.off = append(ih.off[:0], 0)
	for i := range n {
		e.scratch = e.s.fillLabels(e.scratch, h, i)
		var err error
		if ih.prefix, err = appendInfluxPrefix(ih.prefix, e.scratch); err != nil {
			return fmt.Errorf("loadgen: influx: series %d of host %d: %w", i, h.id, err)
		}
		ih.off = append(ih.off, int32(len(ih.prefix)))
	}
	if len(ih.vtext) != n {
		ih.vtext = make([][24]byte, n)
		ih.vlen = make([]uint8, n)
		ih.vbits = make([]uint64, n)
	}
	clear(ih.vlen)
	ih.tsFor = math.MinInt64
	return nil
}

// appendInfluxPrefix appends "<measurement>,<tags> value=" for the sorted
// label set ls.
func appendInfluxPrefix(dst []byte, ls []labels.Label) ([]byte, error) {
	name := ""
	for _, l := range ls {
		if l.Name == model.MetricNameLabel {
			name = l.Value
		}
	}
	if name == "" {
		return nil, fmt.Errorf("no metric name")
	}
	if strings.ContainsAny(name, "\n\r") {
		return nil, fmt.Errorf("metric name %q has a newline", name)
	}
	dst = appendInfluxEscaped(dst, name, false)
	for _, l := range ls {
		if l.Name == model.MetricNameLabel || l.Value == "" {
			continue
		}
		if strings.ContainsAny(l.Name+l.Value, "\n\r") {
			return nil, fmt.Errorf("label %s has a newline, which line protocol cannot carry", l.Name)
		}
		dst = append(dst, ',')
		dst = appendInfluxEscaped(dst, l.Name, true)
		dst = append(dst, '=')
		dst = appendInfluxEscaped(dst, l.Value, true)
	}
	return append(dst, " value="...), nil
}

// appendInfluxEscaped escapes per the line protocol: commas and spaces in
// measurements; commas, equals signs and spaces in tag keys and values.
func appendInfluxEscaped(dst []byte, s string, tag bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ',', ' ':
			dst = append(dst, '\\', c)
		case '=':
			if tag {
				dst = append(dst, '\\')
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func (e *influxEncoder) add(h *host, i, j int) int {
	ih := &e.hosts[h.local]
	if ih.tsFor != h.cur {
		ih.ts = append(ih.ts[:0], ' ')
		ih.ts = strconv.AppendInt(ih.ts, h.cur, 10)
		ih.ts = append(ih.ts, "000000\n"...)
		ih.tsFor = h.cur
	}
	e.buf = grow(e.buf, int(ih.off[j]-ih.off[i])+(j-i)*(24+len(ih.ts)))
	n := 0
	for k := i; k < j; k++ {
		if h.skip != nil && h.skip[k] {
			continue
		}
		v := h.vals[k]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		if bits := math.Float64bits(v); ih.vlen[k] == 0 || bits != ih.vbits[k] {
			ih.vlen[k] = uint8(len(strconv.AppendFloat(ih.vtext[k][:0], v, 'g', -1, 64)))
			ih.vbits[k] = bits
		}
		e.buf = append(e.buf, ih.prefix[ih.off[k]:ih.off[k+1]]...)
		e.buf = append(e.buf, ih.vtext[k][:ih.vlen[k]]...)
		e.buf = append(e.buf, ih.ts...)
		n++
	}
	return n
}

func (e *influxEncoder) finish(p *Payload) {
	p.Body, p.RawBytes = e.buf, len(e.buf)
	e.buf = e.buf[:0] // reused once the payload was sent
}
