package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Workload names a load shape. Every workload is deterministic from
// Config.Seed and Config.Start: the same configuration sends the same bytes.
type Workload string

// The workloads. See the package documentation for what their data looks
// like.
const (
	// WorkloadNode: Config.Hosts node_exporter-like hosts (507 series each,
	// from the embedded real scrape) scraped every Config.Interval, paced by
	// the wall clock.
	WorkloadNode Workload = "node"
	// WorkloadChurn: like node, but every host is replaced by a new
	// instance (new instance label, counters restarting) every
	// Config.ChurnEvery; the replacements are spread over that period.
	WorkloadChurn Workload = "churn"
	// WorkloadHighCard: the node workload with, by default, enough hosts
	// for 1,000,311 active series (1,973 hosts).
	WorkloadHighCard Workload = "highcard"
	// WorkloadBackfill: the node workload over the historical range
	// [Start, Start+BackfillRange), as fast as the target accepts it (not
	// paced by the clock); it ends when every host has sent the range.
	WorkloadBackfill Workload = "backfill"
	// WorkloadReplay: a real capture (Config.Capture) re-timed to start at
	// Config.Start and repeated for ever, once per host.
	WorkloadReplay Workload = "replay"
)

// Workloads lists every workload, for flag help and validation.
var Workloads = []Workload{WorkloadNode, WorkloadChurn, WorkloadHighCard, WorkloadBackfill, WorkloadReplay}

// ParseWorkload returns the workload named s.
func ParseWorkload(s string) (Workload, error) {
	for _, w := range Workloads {
		if string(w) == s {
			return w, nil
		}
	}
	return "", fmt.Errorf("loadgen: unknown workload %q (want node, churn, highcard, backfill or replay)", s)
}

// Defaults of the workload options.
const (
	DefaultHosts         = 100
	DefaultInterval      = 15 * time.Second
	DefaultChurnEvery    = 10 * time.Minute
	DefaultBackfillRange = 7 * 24 * time.Hour
	// HighCardHosts gives the highcard workload 1973 × 507 = 1,000,311
	// active series.
	HighCardHosts = 1973
)

// shape is a workload's static description. Immutable after newShape; safe
// to share between workers.
type shape struct {
	workload Workload
	series   []shapeSeries // per host, in scrape order
	hosts    int
	seed     int64
	start    int64 // ms: first scrape (before each host's phase)
	interval int64 // ms
	paced    bool  // scrapes are sent when the wall clock reaches them
	end      int64 // ms, exclusive: no scrape at or after it (backfill), else MaxInt64
	churn    int64 // ms: churn period, 0 for no churn
	job      string
	tmpl     []templateSeries
	// nodeSeries is the number of series of tmpl; the series after them
	// are the histogram's (Config.Histograms).
	nodeSeries int
	capture    *Capture // replay only
	// symbols is the remote-write 2.0 symbol table every request starts
	// with: "" and every string of every series except the instance value,
	// which each request appends for the hosts it carries.
	symbols []string
}

// shapeSeries is one series of a host, without its host's labels.
type shapeSeries struct {
	name string
	typ  metricType
	help string
	// labels is the full sorted label set with the instance and job
	// values left empty; instanceAt and jobAt index them.
	labels     []labels.Label
	instanceAt int
	jobAt      int
	// Remote-write 2.0 symbol refs of labels (name, value per pair; the
	// instance value's ref is per request) and of the help text.
	refs    []uint32
	helpRef uint32
	// metric groups consecutive series of one name (OTLP sends one Metric
	// per group): the index of the group's first series.
	groupStart int
}

// Label names the workloads add to every series.
const (
	labelInstance = "instance"
	labelJob      = "job"
	replayJob     = "replay"
)

func newShape(c *Config) (*shape, error) {
	s := &shape{
		workload: c.Workload,
		hosts:    c.Hosts,
		seed:     c.Seed,
		start:    c.Start,
		interval: c.Interval.Milliseconds(),
		paced:    c.Workload != WorkloadBackfill && !c.Unpaced,
		end:      maxTime,
		job:      nodeJob,
	}
	switch c.Workload {
	case WorkloadReplay:
		if c.Capture == nil {
			return nil, fmt.Errorf("loadgen: workload replay needs a capture")
		}
		s.capture = c.Capture
		s.tmpl = c.Capture.series
		s.job = replayJob
	default:
		tmpl, err := parseTemplate(nodeExporterScrape)
		if err != nil {
			return nil, fmt.Errorf("loadgen: node_exporter template: %w", err)
		}
		s.tmpl = tmpl
	}
	if c.Workload == WorkloadBackfill || c.Unpaced {
		s.end = c.Start + c.BackfillRange.Milliseconds()
	}
	s.nodeSeries = len(s.tmpl)
	all := s.tmpl
	if c.Histograms {
		all = append(slices.Clip(all), histogramSeries()...)
	}
	if c.Workload == WorkloadChurn {
		s.churn = c.ChurnEvery.Milliseconds()
	}
	syms := map[string]uint32{"": 0}
	s.symbols = []string{""}
	sym := func(v string) uint32 {
		if r, ok := syms[v]; ok {
			return r
		}
		r := uint32(len(s.symbols))
		syms[v] = r
		s.symbols = append(s.symbols, v)
		return r
	}
	for i, t := range all {
		ls := make([]labels.Label, 0, len(t.labels)+3)
		ls = append(ls, labels.Label{Name: model.MetricNameLabel, Value: t.name})
		for _, l := range t.labels {
			// An empty label value is an absent label (the data model's
			// rule): no protocol sends one.
			if l.Value != "" {
				ls = append(ls, l)
			}
		}
		ls = append(ls, labels.Label{Name: labelInstance}, labels.Label{Name: labelJob, Value: s.job})
		slices.SortFunc(ls, func(a, b labels.Label) int {
			switch {
			case a.Name < b.Name:
				return -1
			case a.Name > b.Name:
				return 1
			}
			return 0
		})
		ss := shapeSeries{name: t.name, typ: t.typ, help: t.help, labels: ls}
		for k, l := range ls {
			switch l.Name {
			case labelInstance:
				ss.instanceAt = k
			case labelJob:
				ss.jobAt = k
			}
			ss.refs = append(ss.refs, sym(l.Name))
			if l.Name == labelInstance {
				ss.refs = append(ss.refs, 0) // per request
			} else {
				ss.refs = append(ss.refs, sym(l.Value))
			}
		}
		if t.help != "" {
			ss.helpRef = sym(t.help)
		}
		ss.groupStart = i
		if i > 0 && all[i-1].name == t.name {
			ss.groupStart = s.series[i-1].groupStart
		}
		s.series = append(s.series, ss)
	}
	return s, nil
}

// numSeries is the number of series one host sends per scrape (at most).
func (s *shape) numSeries() int { return len(s.series) }

// host is one simulated host at run time. Owned by the worker that owns
// the host.
type host struct {
	id       int    // global host index
	local    int    // index in its worker, for per-host encoder state
	gen      int    // churn generation (instance incarnation)
	instance string // instance label value
	cur      int64  // ms: timestamp of the current scrape
	birth    int64  // ms: when the instance started (OTLP start time of counters)
	vals     []float64
	skip     []bool // series absent from the current scrape (replay), or nil
	src      source
	// relabel is set by a source when the instance changed (churn); the
	// worker then has its encoder rebuild the host's pre-encoded payload.
	relabel bool
}

// source produces the scrapes of one host.
type source interface {
	// nextT is the timestamp of the host's next scrape.
	nextT() int64
	// scrape makes the next scrape the current one: it sets h.cur, h.vals
	// (and h.skip, h.instance, h.relabel where they change).
	scrape(h *host)
}

// newHost builds host id of the shape.
func (s *shape) newHost(id, local int) *host {
	h := &host{id: id, local: local, vals: make([]float64, len(s.series)), birth: s.start - hostUptimeMs}
	switch {
	case s.capture != nil:
		h.instance = nodeInstance(id)
		h.src = newReplaySource(s, id)
	case s.churn > 0:
		cs := &churnSource{s: s, id: id, offset: int64(id) * s.churn / int64(max(1, s.hosts))}
		cs.m = newHostModel(s.tmpl, s.seed, id, s.start, s.interval, defaultJitterMs)
		h.gen = cs.generation(cs.m.next)
		if h.gen != 0 {
			cs.reseed(h.gen)
		}
		h.instance = churnInstance(id, h.gen)
		h.src = cs
	default:
		h.instance = nodeInstance(id)
		h.src = &nodeSource{m: newHostModel(s.tmpl, s.seed, id, s.start, s.interval, defaultJitterMs), hist: len(s.series) - s.nodeSeries}
	}
	return h
}

// hostUptimeMs is how long the simulated instances have been up at the
// workload's start (the OTLP start time of their counters).
const hostUptimeMs = 3600_000

// nodeSource is a node_exporter-like host: the NodeExporter model, and
// the histogram's buckets when the shape has them.
type nodeSource struct {
	m       hostModel
	hist    int // histogram series after the model's (0: none)
	scrapes int
}

func (n *nodeSource) nextT() int64 { return n.m.next }

func (n *nodeSource) scrape(h *host) {
	h.cur = n.m.scrape(h.vals)
	if n.hist > 0 {
		histogramScrape(h.vals[len(h.vals)-n.hist:], n.scrapes)
	}
	n.scrapes++
}

// churnSource is a node source whose instance is replaced every churn
// period: a new instance label and a freshly seeded model (so counters
// restart from new values), keeping the scrape clock.
type churnSource struct {
	s      *shape
	id     int
	offset int64 // ms: spreads the replacements of hosts over the period
	m      hostModel
	gen    int
}

func (c *churnSource) generation(t int64) int {
	d := t - c.s.start + c.offset
	if d < 0 {
		return 0
	}
	return int(d / c.s.churn)
}

// reseed gives the host a new incarnation gen.
func (c *churnSource) reseed(gen int) {
	next := c.m.next
	// A distinct stream per incarnation; gen 0 is the node workload's.
	c.m = newHostModel(c.s.tmpl, c.s.seed^int64(uint64(gen)*0x9e3779b97f4a7c15), c.id, c.s.start, c.s.interval, defaultJitterMs)
	c.m.next = next
	c.gen = gen
}

func (c *churnSource) nextT() int64 { return c.m.next }

func (c *churnSource) scrape(h *host) {
	if g := c.generation(c.m.next); g != c.gen {
		c.reseed(g)
		h.birth = c.m.next - c.s.interval
		h.gen = g
		h.instance = churnInstance(c.id, g)
		h.relabel = true
	}
	h.cur = c.m.scrape(h.vals)
}

// churnInstance is the instance label of incarnation gen of host id.
func churnInstance(id, gen int) string {
	return "host-" + strconv.Itoa(10000+id) + "-g" + strconv.Itoa(gen) + ":9100"
}

// hostPhase is a host's deterministic phase in [0, interval) for sources
// without a NodeExporter model (replay).
func hostPhase(seed int64, id int, interval int64) int64 {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(id)))
	return rng.Int64N(max(1, interval))
}

// fillLabels writes series i's labels for host h into dst (len(dst) ==
// len(series labels)) and returns it.
func (s *shape) fillLabels(dst []labels.Label, h *host, i int) []labels.Label {
	ss := &s.series[i]
	dst = append(dst[:0], ss.labels...)
	dst[ss.instanceAt].Value = h.instance
	return dst
}

// maxTime is the end of a workload that does not end by itself.
const maxTime = math.MaxInt64
