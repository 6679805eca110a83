package httpfast

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/silverback-tsdb/tsdb/stages"
)

// metrics is the server's collector: per-handler request counts, durations
// and sizes, in-flight requests, and per-protocol ingest counts. The hot
// path only touches pre-resolved counters (no label lookups per request).
type metrics struct {
	s *Server

	requests  *prometheus.CounterVec   // handler, code
	durations *prometheus.HistogramVec // handler
	sizes     *prometheus.HistogramVec // handler
	inFlight  prometheus.Gauge

	notFound, tooLarge, authFailures, slotTimeouts, decodeBudgetFull prometheus.Counter

	samples     *prometheus.CounterVec // protocol
	rejected    *prometheus.CounterVec // protocol, reason
	parseErrors *prometheus.CounterVec // protocol
	notStored   *prometheus.CounterVec // protocol, kind
	inboxDesc   *prometheus.Desc
	decodeDesc  *prometheus.Desc

	mu       sync.Mutex
	handlers map[string]*handlerMetrics // guarded by mu (registration only)
}

// handlerMetrics are one route's pre-resolved series.
type handlerMetrics struct {
	byCode   map[int]prometheus.Counter // immutable after creation
	requests *prometheus.CounterVec
	name     string
	duration prometheus.Observer
	size     prometheus.Observer
}

// protoMetrics are one protocol's pre-resolved ingest counters.
type protoMetrics struct {
	samples     prometheus.Counter
	parseErrors prometheus.Counter
	rejected    [stages.NumRejectReasons]prometheus.Counter
	exemplars   prometheus.Counter
	histograms  prometheus.Counter
	strings     prometheus.Counter
}

// commonCodes get pre-resolved counters; others resolve on use.
var commonCodes = []int{200, 204, 400, 401, 403, 404, 405, 413, 415, 429, 500, 503}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		s: s,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsdb_http_requests_total", Help: "HTTP requests by handler and status code.",
		}, []string{"handler", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tsdb_http_request_duration_seconds", Help: "HTTP request durations by handler.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"handler"}),
		sizes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tsdb_http_request_size_bytes", Help: "HTTP request body sizes (as sent) by handler.",
			Buckets: prometheus.ExponentialBuckets(64, 4, 10),
		}, []string{"handler"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tsdb_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		notFound: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsdb_http_not_found_total", Help: "Requests for paths no route serves.",
		}),
		tooLarge: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsdb_http_body_too_large_total", Help: "Requests refused because their body was over --ingest.max-body-size.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsdb_http_auth_failures_total", Help: "Requests refused for missing or wrong credentials.",
		}),
		slotTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsdb_ingest_concurrency_limited_total", Help: "Ingest requests answered 503 because no ingest slot freed up in time.",
		}),
		decodeBudgetFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsdb_ingest_decode_budget_exceeded_total", Help: "Ingest requests answered 503 because the decompressed bytes in flight were at their bound.",
		}),
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsdb_ingest_samples_total", Help: "Samples accepted (stored or harmless duplicates) by protocol.",
		}, []string{"protocol"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsdb_ingest_samples_rejected_total", Help: "Samples the storage rejected, by protocol and reason.",
		}, []string{"protocol", "reason"}),
		parseErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsdb_ingest_parse_errors_total", Help: "Lines or items that failed to parse, by protocol.",
		}, []string{"protocol"}),
		notStored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsdb_ingest_not_stored_total", Help: "Accepted items that are not stored (exemplars, native histograms, string fields), by protocol and kind.",
		}, []string{"protocol", "kind"}),
		inboxDesc:  prometheus.NewDesc("tsdb_shard_inbox_depth", "Messages waiting in each shard's inbox.", []string{"shard"}, nil),
		decodeDesc: prometheus.NewDesc("tsdb_ingest_decode_bytes_in_flight", "Decompressed request bytes held by ingest requests.", nil, nil),
		handlers:   map[string]*handlerMetrics{},
	}
	return m
}

func (m *metrics) handler(name string) *handlerMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if hm := m.handlers[name]; hm != nil {
		return hm
	}
	hm := &handlerMetrics{
		byCode:   map[int]prometheus.Counter{},
		requests: m.requests,
		name:     name,
		duration: m.durations.WithLabelValues(name),
		size:     m.sizes.WithLabelValues(name),
	}
	for _, c := range commonCodes {
		hm.byCode[c] = m.requests.WithLabelValues(name, strconv.Itoa(c))
	}
	m.handlers[name] = hm
	return hm
}

func (hm *handlerMetrics) observe(code int, d time.Duration, size int) {
	c, ok := hm.byCode[code]
	if !ok {
		c = hm.requests.WithLabelValues(hm.name, strconv.Itoa(code))
	}
	c.Inc()
	hm.duration.Observe(d.Seconds())
	hm.size.Observe(float64(size))
}

func (m *metrics) protocol(name string) *protoMetrics {
	pm := &protoMetrics{
		samples:     m.samples.WithLabelValues(name),
		parseErrors: m.parseErrors.WithLabelValues(name),
		exemplars:   m.notStored.WithLabelValues(name, "exemplar"),
		histograms:  m.notStored.WithLabelValues(name, "native_histogram"),
		strings:     m.notStored.WithLabelValues(name, "string_field"),
	}
	for r := stages.RejectReason(1); int(r) < stages.NumRejectReasons; r++ {
		pm.rejected[r] = m.rejected.WithLabelValues(name, r.String())
	}
	return pm
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
	ch <- m.inboxDesc
	ch <- m.decodeDesc
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
	if b := m.s.store.Load(); b != nil {
		if d, ok := b.s.(interface{ InboxDepths([]int) []int }); ok {
			for i, n := range d.InboxDepths(nil) {
				ch <- prometheus.MustNewConstMetric(m.inboxDesc, prometheus.GaugeValue, float64(n), strconv.Itoa(i))
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(m.decodeDesc, prometheus.GaugeValue, float64(m.s.decodeBudget.used.Load()))
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.durations, m.sizes, m.inFlight, m.notFound, m.tooLarge,
		m.authFailures, m.slotTimeouts, m.decodeBudgetFull, m.samples, m.rejected, m.parseErrors, m.notStored}
}
