package loadgen

import "github.com/prometheus/prometheus/model/labels"

// At returns series i in scrape n of the capture repeated end to end, as
// the replay workload repeats it (counters keep rising, timestamps advance
// by the capture's period per repetition), on the capture's own clock: its
// timestamp, its value, and whether the series is in that scrape. For
// in-process measurements on real data (pipeline's BenchmarkRealBlockBytes).
func (c *Capture) At(n, i int) (t int64, v float64, ok bool) {
	k, rep := n%len(c.times), n/len(c.times)
	return c.times[k] + int64(rep)*c.period, c.value(k, rep, i), c.has(k, i)
}

// SeriesLabels returns series i's labels with its metric name (the capture's
// own instance and job labels renamed exported_instance and exported_job).
func (c *Capture) SeriesLabels(i int) labels.Labels {
	ss := &c.series[i]
	b := labels.NewScratchBuilder(len(ss.labels) + 1)
	b.Add(labels.MetricName, ss.name)
	for _, l := range ss.labels {
		b.Add(l.Name, l.Value)
	}
	b.Sort()
	return b.Labels()
}
