package httpfast

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/stages"
)

// SelfScrapeOptions configure RunSelfScrape.
type SelfScrapeOptions struct {
	// Gatherer is what /metrics serves (the same registry).
	Gatherer prometheus.Gatherer
	// Interval between scrapes (default 15s).
	Interval time.Duration
	// Job and Instance label every self-scraped series ("tsdb" and the
	// listen address by default).
	Job, Instance string
}

// RunSelfScrape stores the server's own metrics into its storage every
// interval until ctx ends, as a Prometheus scrape of /metrics would (with
// job and instance labels and an up series), so that tsdb_head_series and
// the rest can be queried from the database itself. It gathers from the
// registry directly rather than over HTTP: the same families, without
// authentication or a text round trip. It returns nil when ctx ends.
func (s *Server) RunSelfScrape(ctx context.Context, o SelfScrapeOptions) error {
	if o.Interval <= 0 {
		o.Interval = 15 * time.Second
	}
	if o.Job == "" {
		o.Job = "tsdb"
	}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if err := s.SelfScrapeOnce(ctx, o, now); err != nil {
				s.log.Debug("self scrape failed", zap.Error(err))
			}
		}
	}
}

// SelfScrapeOnce gathers and stores one scrape at now.
func (s *Server) SelfScrapeOnce(ctx context.Context, o SelfScrapeOptions, now time.Time) error {
	box := s.store.Load()
	if box == nil {
		return nil
	}
	if o.Job == "" {
		o.Job = "tsdb"
	}
	fams, gerr := o.Gatherer.Gather()
	t := now.UnixMilli()
	var b stages.Batch
	lb := labels.NewBuilder(labels.EmptyLabels())
	add := func(name string, base []*dto.LabelPair, v float64, extra ...string) {
		lb.Reset(labels.EmptyLabels())
		for _, lp := range base {
			lb.Set(lp.GetName(), lp.GetValue())
		}
		for i := 0; i+1 < len(extra); i += 2 {
			lb.Set(extra[i], extra[i+1])
		}
		lb.Set("__name__", name)
		lb.Set("job", o.Job)
		if o.Instance != "" {
			lb.Set("instance", o.Instance)
		}
		b.AddSample(b.AddSeries(lb.Labels(), nil), t, v)
	}
	for _, f := range fams {
		name := f.GetName()
		for _, m := range f.GetMetric() {
			lp := m.GetLabel()
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				add(name, lp, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, lp, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add(name, lp, m.GetUntyped().GetValue())
			case dto.MetricType_SUMMARY:
				sm := m.GetSummary()
				for _, q := range sm.GetQuantile() {
					add(name, lp, q.GetValue(), "quantile", strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64))
				}
				add(name+"_sum", lp, sm.GetSampleSum())
				add(name+"_count", lp, float64(sm.GetSampleCount()))
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, bk := range h.GetBucket() {
					add(name+"_bucket", lp, float64(bk.GetCumulativeCount()), "le", strconv.FormatFloat(bk.GetUpperBound(), 'g', -1, 64))
				}
				add(name+"_bucket", lp, float64(h.GetSampleCount()), "le", "+Inf")
				add(name+"_sum", lp, h.GetSampleSum())
				add(name+"_count", lp, float64(h.GetSampleCount()))
			}
		}
		s.opts.Metadata.set([]byte(name), metricTypeNameDTO(f.GetType()), nil, []byte(f.GetHelp()))
	}
	up := 1.0
	if gerr != nil {
		up = 0
	}
	add("up", nil, up)
	st, err := box.s.Append(ctx, &b)
	s.pmSelf.samples.Add(float64(st.Appended + st.Duplicates))
	for r := stages.RejectReason(1); int(r) < stages.NumRejectReasons; r++ {
		if n := st.Count(r); n > 0 {
			s.pmSelf.rejected[r].Add(float64(n))
		}
	}
	if err != nil {
		return fmt.Errorf("self scrape append: %w", err)
	}
	if gerr != nil {
		return fmt.Errorf("self scrape gather: %w", gerr)
	}
	return nil
}

func metricTypeNameDTO(t dto.MetricType) string {
	switch t {
	case dto.MetricType_COUNTER:
		return "counter"
	case dto.MetricType_GAUGE:
		return "gauge"
	case dto.MetricType_SUMMARY:
		return "summary"
	case dto.MetricType_HISTOGRAM:
		return "histogram"
	case dto.MetricType_GAUGE_HISTOGRAM:
		return "gaugehistogram"
	}
	return "unknown"
}
