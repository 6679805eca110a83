package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Sample is one generated sample of the series with index Series.
type Sample struct {
	Series int
	T      int64 // ms since the Unix epoch
	V      float64
}

// NodeExporterOptions configures NewNodeExporter. Zero fields take defaults.
type NodeExporterOptions struct {
	Hosts int   // simulated hosts; default 1
	Seed  int64 // random seed; the same options always give the same data
	// Start is the first scrape's timestamp in ms; default 2026-01-01T00:00:00Z.
	Start int64
	// Interval is the scrape interval; default 15s.
	Interval time.Duration
	// JitterMs is the width of the uniform jitter added to each scrape
	// interval, on top of scrapeDriftMs; default 21. Zero means the default;
	// pass a negative value for perfectly regular scrapes.
	JitterMs int
}

const (
	defaultStart = 1767225600000 // 2026-01-01T00:00:00Z in ms

	// scrapeDriftMs and the default jitter reproduce the real capture in
	// ../shared/data/node_exporter_10min.prom: 39 scrape intervals of
	// 15,020 to 15,041 ms, so delta-of-deltas within about ±21 ms.
	scrapeDriftMs    = 20
	defaultJitterMs  = 21
	defaultIntervalD = 15 * time.Second
)

// seriesState is the evolving value of one generated series.
type seriesState struct {
	v       float64 // current value
	quantum float64 // value resolution; every value is a multiple of it
	step    float64 // counters: mean increment; gauges: random-walk sigma
	pChange float64 // probability the value changes at a scrape (0: constant)
	counter bool
	nonNeg  bool
}

// NodeExporter generates node_exporter-like series for many hosts from one
// real scrape. See the package documentation for the model. It is owned by
// one goroutine.
type NodeExporter struct {
	tmpl  []templateSeries
	hosts []hostModel
	base  []labels.Label // scratch for Labels
	vals  []float64      // scratch for Next
}

// hostModel is the evolving state of one simulated host: its random stream,
// the timestamp of its next scrape and the value of each template series.
// NodeExporter and the load generator's workloads share it, so both produce
// the same data for the same (seed, host). Owned by one goroutine.
type hostModel struct {
	rng      *rand.Rand
	next     int64 // ms: timestamp of the next scrape
	interval int64 // ms
	jitterMs int
	state    []seriesState // per template series
}

// newHostModel seeds host h of a generator: its stream is PCG(seed, h), its
// first scrape falls at a random phase of the first interval after start.
func newHostModel(tmpl []templateSeries, seed int64, h int, start, intervalMs int64, jitterMs int) hostModel {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(h)))
	m := hostModel{rng: rng, interval: intervalMs, jitterMs: jitterMs, state: make([]seriesState, len(tmpl))}
	// Hosts scrape at different phases of the interval, as real
	// Prometheus servers spread their targets.
	m.next = start + rng.Int64N(intervalMs)
	for i := range tmpl {
		m.state[i] = newSeriesState(&tmpl[i], rng)
	}
	return m
}

// scrape writes the current value of every series to vals (len(vals) ==
// len(m.state)), advances every series and the clock, and returns the
// scrape's timestamp.
func (m *hostModel) scrape(vals []float64) int64 {
	t := m.next
	for i := range m.state {
		st := &m.state[i]
		vals[i] = st.v
		st.advance(m.rng)
	}
	m.next = t + m.interval + scrapeDriftMs*boolInt(m.jitterMs > 0) + m.rng.Int64N(int64(m.jitterMs)+1)
	return t
}

// NewNodeExporter builds a generator. It returns an error only for invalid
// options.
func NewNodeExporter(o NodeExporterOptions) (*NodeExporter, error) {
	if o.Hosts == 0 {
		o.Hosts = 1
	}
	if o.Hosts < 0 {
		return nil, fmt.Errorf("loadgen: hosts = %d, want > 0", o.Hosts)
	}
	if o.Start == 0 {
		o.Start = defaultStart
	}
	if o.Interval == 0 {
		o.Interval = defaultIntervalD
	}
	if o.Interval < time.Millisecond {
		return nil, fmt.Errorf("loadgen: interval = %v, want >= 1ms", o.Interval)
	}
	switch {
	case o.JitterMs == 0:
		o.JitterMs = defaultJitterMs
	case o.JitterMs < 0:
		o.JitterMs = 0
	}
	tmpl, err := parseTemplate(nodeExporterScrape)
	if err != nil {
		return nil, fmt.Errorf("loadgen: node_exporter template: %w", err)
	}
	g := &NodeExporter{tmpl: tmpl, hosts: make([]hostModel, o.Hosts)}
	for h := range o.Hosts {
		g.hosts[h] = newHostModel(tmpl, o.Seed, h, o.Start, o.Interval.Milliseconds(), o.JitterMs)
	}
	return g, nil
}

// Dynamics classes and their shares, tuned so that a generated host shows
// roughly the mix of the real 10-minute capture: of 507 series, 355 never
// changed, 22 changed rarely, 43 sometimes and 87 at every scrape.
const (
	pEvery     = 1.0
	pSometimes = 0.3
	pRarely    = 0.03
)

// constantHints are name fragments of series that do not change while a
// machine runs (capacities, limits, build info, boot time).
var constantHints = []string{
	"_info", "size_bytes", "_limit", "Limit", "_max", "Total", "boot_time",
	"start_time", "DirectMap", "_files", "readonly", "Hugepagesize",
	"_frequency_", "_bits", "_speed",
}

func newSeriesState(t *templateSeries, rng *rand.Rand) seriesState {
	s := seriesState{
		v:       t.value,
		quantum: t.quantum,
		counter: t.typ == typeCounter,
		nonNeg:  t.value >= 0,
	}
	// Memory gauges are counted in pages.
	if strings.HasSuffix(t.name, "_bytes") && t.value > 0 && math.Mod(t.value, 4096) == 0 {
		s.quantum = 4096
	}
	constant := t.typ == typeUntyped
	for _, h := range constantHints {
		if strings.Contains(t.name, h) {
			constant = true
			break
		}
	}
	if t.value == 0 && !s.counter && rng.Float64() < 0.9 {
		constant = true
	}
	if constant {
		return s
	}
	r := rng.Float64()
	switch {
	case s.counter && r < 0.45, !s.counter && r < 0.30:
		s.pChange = pEvery
	case s.counter && r < 0.55, !s.counter && r < 0.36:
		s.pChange = pSometimes
	case s.counter && r < 0.60, !s.counter && r < 0.40:
		s.pChange = pRarely
	default:
		return s // constant
	}
	// Relative size of a move: log-uniform between 1e-4 and 1e-2 of the value.
	rel := math.Pow(10, -4+2*rng.Float64())
	// At least a few quanta, so that a gauge that moves does not round back
	// to where it was.
	s.step = max(3*s.quantum, math.Abs(t.value)*rel)
	if s.counter {
		// Hosts differ in how much work they have done since boot.
		s.v = quantize(t.value*math.Pow(2, 2*rng.Float64()-1), s.quantum)
	} else {
		s.v = quantize(t.value*(0.8+0.4*rng.Float64()), s.quantum)
	}
	return s
}

func quantize(v, q float64) float64 {
	if q <= 0 {
		return v
	}
	r := math.Round(v/q) * q
	if q < 1 {
		// Round through decimal text so that 0.1-style quanta give the
		// shortest decimal value, as an exporter would print it.
		digits := int(math.Ceil(-math.Log10(q)))
		r, _ = strconv.ParseFloat(strconv.FormatFloat(r, 'f', digits, 64), 64)
	}
	return r
}

// advance moves s one scrape forward using rng.
func (s *seriesState) advance(rng *rand.Rand) {
	if s.pChange == 0 || (s.pChange < 1 && rng.Float64() >= s.pChange) {
		return
	}
	if s.counter {
		inc := quantize(s.step*(0.5+rng.Float64()), s.quantum)
		s.v = quantize(s.v+max(inc, s.quantum), s.quantum)
		return
	}
	v := quantize(s.v+rng.NormFloat64()*s.step, s.quantum)
	if s.nonNeg && v < 0 {
		v = -v
	}
	s.v = v
}

// NumSeries returns the number of series: series per template × hosts.
func (g *NodeExporter) NumSeries() int { return len(g.hosts) * len(g.tmpl) }

// SeriesPerHost returns the number of series one host exposes.
func (g *NodeExporter) SeriesPerHost() int { return len(g.tmpl) }

// Labels returns the label set of series i (0 <= i < NumSeries): the
// template's labels plus __name__, instance="host-NNNNN:9100" and job="node".
// It allocates the returned value; the result is immutable.
func (g *NodeExporter) Labels(i int) labels.Labels {
	h, t := i/len(g.tmpl), &g.tmpl[i%len(g.tmpl)]
	b := append(g.base[:0], labels.Label{Name: model.MetricNameLabel, Value: t.name})
	b = append(b, t.labels...)
	b = append(b,
		labels.Label{Name: "instance", Value: nodeInstance(h)},
		labels.Label{Name: "job", Value: nodeJob},
	)
	g.base = b
	return labels.New(b...)
}

// nodeJob is the job label of every generated node_exporter host.
const nodeJob = "node"

// nodeInstance is the instance label of generated host h.
func nodeInstance(h int) string { return "host-" + strconv.Itoa(10000+h) + ":9100" }

// Next appends one scrape of every series of every host to dst and returns
// it. Samples are host-major: all series of host 0, then host 1, and so on;
// the series of one host share the scrape's timestamp.
func (g *NodeExporter) Next(dst []Sample) []Sample {
	n := len(g.tmpl)
	if len(g.vals) != n {
		g.vals = make([]float64, n)
	}
	vals := g.vals
	for h := range g.hosts {
		t := g.hosts[h].scrape(vals)
		for i, v := range vals {
			dst = append(dst, Sample{Series: h*n + i, T: t, V: v})
		}
	}
	return dst
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Columns generates scrapes scrapes and returns each series' timestamps and
// values, indexed by series: ts[i][k] is the k-th timestamp of series i.
func (g *NodeExporter) Columns(scrapes int) (ts [][]int64, vs [][]float64) {
	ns := g.NumSeries()
	ts = make([][]int64, ns)
	vs = make([][]float64, ns)
	for i := range ns {
		ts[i] = make([]int64, 0, scrapes)
		vs[i] = make([]float64, 0, scrapes)
	}
	buf := make([]Sample, 0, ns)
	for range scrapes {
		buf = g.Next(buf[:0])
		for _, s := range buf {
			ts[s.Series] = append(ts[s.Series], s.T)
			vs[s.Series] = append(vs[s.Series], s.V)
		}
	}
	return ts, vs
}

// Regular returns series perfectly regular series of samples samples each,
// step apart from start: even-numbered series are constant, odd-numbered
// ones grow by a fixed integer increment. It is the best case for any
// timestamp and value encoder.
func Regular(series, samples int, start int64, step time.Duration) (ts [][]int64, vs [][]float64) {
	ts = make([][]int64, series)
	vs = make([][]float64, series)
	stepMs := step.Milliseconds()
	for i := range series {
		ts[i] = make([]int64, samples)
		vs[i] = make([]float64, samples)
		for k := range samples {
			ts[i][k] = start + int64(k)*stepMs
			if i%2 == 0 {
				vs[i][k] = float64(i)
			} else {
				vs[i][k] = float64(k * i)
			}
		}
	}
	return ts, vs
}
