package queryexec

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	queries  prometheus.Counter
	failed   prometheus.Counter
	running  prometheus.Gauge
	duration prometheus.Histogram
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		queries: prometheus.NewCounter(prometheus.CounterOpts{Name: "tsdb_queries_total", Help: "PromQL queries evaluated."}),
		failed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "tsdb_queries_failed_total", Help: "PromQL queries that returned an error."}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tsdb_queries_running", Help: "PromQL queries evaluating now."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tsdb_query_duration_seconds", Help: "Duration of successful PromQL queries.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
	}
	if r != nil {
		r.MustRegister(m.queries, m.failed, m.running, m.duration)
	}
	return m
}
