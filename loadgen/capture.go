package loadgen

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Capture is a parsed capture file for the replay workload: consecutive
// scrapes of one target in the Prometheus text exposition format, every
// sample line with a millisecond timestamp (`name{labels} value t_ms`), the
// format of ../shared/data/node_exporter_10min.prom. Immutable after
// ParseCapture; safe for concurrent use.
//
// A scrape is a run of lines with one timestamp; timestamps must increase
// from scrape to scrape and a series may appear once per scrape. # TYPE and
// # HELP lines are used when present; other comments and blank lines are
// skipped. The capture's own instance and job labels are renamed
// exported_instance and exported_job, as a Prometheus server does with
// honor_labels off, because the workload sets its own.
type Capture struct {
	series []templateSeries
	times  []int64   // ms, per scrape, strictly increasing
	vals   []float64 // scrape-major: vals[k*len(series)+i]
	// present[k*len(series)+i] says whether series i is in scrape k; nil
	// when every series is in every scrape.
	present []bool
	// counters[i] describes how series i continues when the capture
	// repeats (see captureCounter).
	counters []captureCounter
	// period is the time from a scrape to the same scrape of the next
	// repetition: the capture's span plus its mean scrape interval.
	period int64
}

// captureCounter makes a counter of the capture keep rising when the
// capture repeats instead of falling back to its first value: repetition L
// adds L*off to it. When every value of the series is a short decimal, the
// arithmetic is done on integers (value = mant/scale), so the repeated
// values have the digits an exporter would print rather than float noise.
type captureCounter struct {
	kind  counterKind
	mant  []int64 // per scrape (kind counterDecimal)
	scale float64 // 10^decimals
	off   int64   // per repetition, in units of 1/scale
	offF  float64 // per repetition (kind counterFloat)
}

type counterKind uint8

const (
	notCounter counterKind = iota
	counterDecimal
	counterFloat
)

// Capture size bounds: a capture is held in memory densely (scrapes ×
// series), so a sparse file of churning series is refused rather than
// blown up.
const (
	maxCaptureCells       = 64 << 20
	maxCaptureSparseRatio = 16 // cells per sample line
)

// ParseCapture reads a capture (see Capture) from r.
func ParseCapture(r io.Reader) (*Capture, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("loadgen: read capture: %w", err)
	}
	c, err := parseCapture(string(b))
	if err != nil {
		return nil, fmt.Errorf("loadgen: capture: %w", err)
	}
	return c, nil
}

// Series returns the number of distinct series of the capture.
func (c *Capture) Series() int { return len(c.series) }

// Scrapes returns the number of scrapes of the capture.
func (c *Capture) Scrapes() int { return len(c.times) }

// Span returns the time from the first to the last scrape, in ms.
func (c *Capture) Span() int64 { return c.times[len(c.times)-1] - c.times[0] }

type captureSample struct {
	scrape, series int
	v              float64
	text           string
}

func parseCapture(text string) (*Capture, error) {
	types := map[string]metricType{}
	helps := map[string]string{}
	index := map[string]int{}
	var (
		c       Capture
		samples []captureSample
		last    []int // per series: the last scrape it was seen in
		key     strings.Builder
	)
	for lineNo, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if line[0] == '#' {
			f := strings.Fields(line)
			if len(f) == 4 && f[1] == "TYPE" {
				types[f[2]] = parseType(f[3])
			}
			if len(f) >= 3 && f[1] == "HELP" {
				helps[f[2]] = unescapeHelp(strings.TrimSpace(strings.SplitN(line, f[2], 2)[1]))
			}
			continue
		}
		s, tsText, err := parseSampleLineTS(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo+1, err)
		}
		if tsText == "" {
			return nil, fmt.Errorf("line %d: no timestamp", lineNo+1)
		}
		t, err := strconv.ParseInt(tsText, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: timestamp %q: %w", lineNo+1, tsText, err)
		}
		if n := len(c.times); n == 0 || t > c.times[n-1] {
			c.times = append(c.times, t)
		} else if t < c.times[n-1] {
			return nil, fmt.Errorf("line %d: timestamp %d before the previous scrape's %d", lineNo+1, t, c.times[n-1])
		}
		for j := range s.labels {
			switch s.labels[j].Name {
			case labelInstance, labelJob:
				s.labels[j].Name = "exported_" + s.labels[j].Name
			case model.MetricNameLabel:
				return nil, fmt.Errorf("line %d: label __name__ inside the braces", lineNo+1)
			}
		}
		slices.SortFunc(s.labels, func(a, b labels.Label) int { return strings.Compare(a.Name, b.Name) })
		for j := 1; j < len(s.labels); j++ {
			if s.labels[j].Name == s.labels[j-1].Name {
				return nil, fmt.Errorf("line %d: label %q twice", lineNo+1, s.labels[j].Name)
			}
		}
		key.Reset()
		key.WriteString(s.name)
		for _, l := range s.labels {
			key.WriteByte(0xff)
			key.WriteString(l.Name)
			key.WriteByte(0xff)
			key.WriteString(l.Value)
		}
		k := len(c.times) - 1
		i, ok := index[key.String()]
		if !ok {
			i = len(c.series)
			index[key.String()] = i
			c.series = append(c.series, s)
			last = append(last, -1)
		} else if last[i] == k {
			return nil, fmt.Errorf("line %d: series %s twice in the scrape at %d", lineNo+1, s.name, t)
		}
		last[i] = k
		samples = append(samples, captureSample{scrape: k, series: i, v: s.value, text: s.valueText})
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("no samples")
	}
	nk, ns := len(c.times), len(c.series)
	if cells := nk * ns; cells > maxCaptureCells || cells > maxCaptureSparseRatio*len(samples) {
		return nil, fmt.Errorf("%d scrapes × %d series is too sparse for %d samples", nk, ns, len(samples))
	}
	c.vals = make([]float64, nk*ns)
	if len(samples) != nk*ns {
		c.present = make([]bool, nk*ns)
	}
	for _, s := range samples {
		c.vals[s.scrape*ns+s.series] = s.v
		if c.present != nil {
			c.present[s.scrape*ns+s.series] = true
		}
	}
	for i := range c.series {
		t := &c.series[i]
		t.typ = familyType(types, t.name)
		t.help = familyHelp(helps, t.name)
		t.labels = slices.Clip(t.labels)
	}
	c.counters = make([]captureCounter, ns)
	texts := make([][]string, ns)
	for _, s := range samples {
		texts[s.series] = append(texts[s.series], s.text)
	}
	for i := range c.series {
		c.counters[i] = c.counterOf(i, texts[i])
		if c.counters[i].kind != notCounter {
			c.series[i].typ = typeCounter
		}
	}
	if nk > 1 {
		span := c.times[nk-1] - c.times[0]
		c.period = span + span/int64(nk-1)
	}
	return &c, nil
}

// counterSuffixes are the name endings of Prometheus counters (and of the
// counters of summaries and histograms).
var counterSuffixes = []string{"_total", "_count", "_sum", "_bucket"}

// counterOf decides how series i continues when the capture repeats: a
// series typed counter, or untyped with a counter's name suffix, whose
// values never decrease and do rise, keeps rising; any other series repeats
// its values as captured. texts are the series' values as printed, in
// scrape order.
func (c *Capture) counterOf(i int, texts []string) captureCounter {
	t := &c.series[i]
	like := t.typ == typeCounter
	if t.typ == typeUntyped {
		for _, suf := range counterSuffixes {
			like = like || strings.HasSuffix(t.name, suf)
		}
	}
	var vs []float64
	for k := range c.times {
		if c.has(k, i) {
			vs = append(vs, c.vals[k*len(c.series)+i])
		}
	}
	if !like || len(vs) < 2 || !(vs[len(vs)-1] > vs[0]) {
		return captureCounter{}
	}
	for k := 1; k < len(vs); k++ {
		if !(vs[k] >= vs[k-1]) {
			return captureCounter{}
		}
	}
	nk := int64(len(vs))
	// Decimal form: every value as an integer mantissa over one scale.
	decimals := 0
	mants := make([]int64, len(texts))
	exps := make([]int, len(texts))
	ok := true
	for k, s := range texts {
		m, e, dok := parseDecimal(s)
		if !dok {
			ok = false
			break
		}
		mants[k], exps[k] = m, e
		decimals = max(decimals, e)
	}
	if ok && decimals <= 15 {
		mant := make([]int64, len(c.times))
		j := 0
		for k := range c.times {
			if !c.has(k, i) {
				continue
			}
			m := mants[j]
			for range decimals - exps[j] {
				if m > (1<<53)/10 {
					ok = false
				}
				m *= 10
			}
			mant[k] = m
			j++
		}
		if ok {
			first, lastM := mant[c.firstPresent(i)], mant[c.lastPresent(i)]
			span := lastM - first
			return captureCounter{kind: counterDecimal, mant: mant, scale: math.Pow10(decimals), off: span + (span+(nk-1)/2)/(nk-1)}
		}
	}
	span := vs[len(vs)-1] - vs[0]
	return captureCounter{kind: counterFloat, offF: span + span/float64(nk-1)}
}

func (c *Capture) has(k, i int) bool { return c.present == nil || c.present[k*len(c.series)+i] }

func (c *Capture) firstPresent(i int) int {
	for k := range c.times {
		if c.has(k, i) {
			return k
		}
	}
	return 0
}

func (c *Capture) lastPresent(i int) int {
	for k := len(c.times) - 1; k >= 0; k-- {
		if c.has(k, i) {
			return k
		}
	}
	return 0
}

// value returns series i's value in scrape k of repetition rep.
func (c *Capture) value(k, rep, i int) float64 {
	cc := &c.counters[i]
	switch {
	case rep == 0 || cc.kind == notCounter:
		return c.vals[k*len(c.series)+i]
	case cc.kind == counterDecimal:
		// An exact integer over an exact power of ten: the division is
		// correctly rounded, so this is the double the decimal text parses to.
		return float64(cc.mant[k]+int64(rep)*cc.off) / cc.scale
	default:
		return c.vals[k*len(c.series)+i] + float64(rep)*cc.offF
	}
}

// parseDecimal parses a finite decimal number ("2235.65", "1.6777216e+07",
// "1.5133e-05", "28318") into m and e with value m/10^e, e >= 0 and
// |m| < 2^53. It reports false for anything else (NaN, Inf, too many digits).
func parseDecimal(s string) (m int64, e int, ok bool) {
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		x, err := strconv.Atoi(s[i+1:])
		if err != nil || x < -30 || x > 30 {
			return 0, 0, false
		}
		exp = x
	}
	neg := false
	switch {
	case strings.HasPrefix(mant, "-"):
		neg, mant = true, mant[1:]
	case strings.HasPrefix(mant, "+"):
		mant = mant[1:]
	}
	decimals := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		decimals = len(mant) - i - 1
		mant = mant[:i] + mant[i+1:]
	}
	if mant == "" || len(mant) > 18 {
		return 0, 0, false
	}
	for _, ch := range mant {
		if ch < '0' || ch > '9' {
			return 0, 0, false
		}
	}
	v, err := strconv.ParseInt(mant, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	e = decimals - exp
	for e < 0 {
		if v > (1<<53)/10 {
			return 0, 0, false
		}
		v *= 10
		e++
	}
	if v >= 1<<53 || e > 22 {
		return 0, 0, false
	}
	if neg {
		v = -v
	}
	return v, e, true
}

// replaySource replays the capture for one host: host id starts at scrape
// id mod K of the capture (so hosts are not in lockstep), at its own phase
// of the interval, and repeats the capture for ever.
type replaySource struct {
	c      *Capture
	k0     int   // first scrape of the capture this host sends
	n      int   // scrapes sent
	base   int64 // ms: timestamp of capture scrape 0 in repetition 0
	period int64
	ns     int
	skip   []bool
}

func newReplaySource(s *shape, id int) *replaySource {
	c := s.capture
	r := &replaySource{c: c, k0: id % len(c.times), period: c.period, ns: len(c.series)}
	if r.period == 0 { // a single scrape: repeat it every interval
		r.period = s.interval
	}
	r.base = s.start + hostPhase(s.seed, id, s.interval) - (c.times[r.k0] - c.times[0])
	if c.present != nil {
		r.skip = make([]bool, len(c.series))
	}
	return r
}

func (r *replaySource) at(n int) (k, rep int, t int64) {
	idx := n + r.k0
	k, rep = idx%len(r.c.times), idx/len(r.c.times)
	return k, rep, r.base + (r.c.times[k] - r.c.times[0]) + int64(rep)*r.period
}

func (r *replaySource) nextT() int64 {
	_, _, t := r.at(r.n)
	return t
}

func (r *replaySource) scrape(h *host) {
	k, rep, t := r.at(r.n)
	r.n++
	h.cur = t
	for i := range h.vals {
		h.vals[i] = r.c.value(k, rep, i)
	}
	if r.skip != nil {
		for i := range r.skip {
			r.skip[i] = !r.c.has(k, i)
		}
		h.skip = r.skip
	}
}
