package loadgen

import (
	"fmt"
	"strconv"

	"github.com/prometheus/prometheus/model/labels"
)

// The histogram of Config.Histograms: HistogramHandlers handlers, each
// with the buckets HistogramBounds and +Inf.
const (
	HistogramMetric   = "http_request_duration_seconds_bucket"
	HistogramHandlers = 10
	// HistogramSeries is the histogram's series per host.
	HistogramSeries = HistogramHandlers * (len(histogramBoundsArr) + 1)
)

var histogramBoundsArr = [...]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// HistogramBounds are the histogram's finite bucket bounds (le).
func HistogramBounds() []float64 { return histogramBoundsArr[:] }

// histogramSeries returns the histogram's series as template series,
// handler-major, buckets in increasing le (+Inf last).
func histogramSeries() []templateSeries {
	out := make([]templateSeries, 0, HistogramSeries)
	for hd := range HistogramHandlers {
		for bi := 0; bi <= len(histogramBoundsArr); bi++ {
			le := "+Inf"
			if bi < len(histogramBoundsArr) {
				le = strconv.FormatFloat(histogramBoundsArr[bi], 'f', -1, 64)
			}
			out = append(out, templateSeries{
				name:   HistogramMetric,
				labels: []labels.Label{{Name: "handler", Value: fmt.Sprintf("/api/%d", hd)}, {Name: "le", Value: le}},
				typ:    typeCounter, help: "Request latency.", quantum: 1.5, valueText: "0",
			})
		}
	}
	return out
}

// histogramScrape writes scrape k's cumulative bucket counts to vals
// (len HistogramSeries, in histogramSeries' order): bucket bi of every
// handler has grown by (j%7+1)·(bi+1)·1.5 in each scrape j < k, so counts
// never decrease in time and never decrease with le (a valid classic
// histogram), as in queryexec/difftest's benchmark data.
func histogramScrape(vals []float64, k int) {
	// Σ_{j<k} (j%7+1) = 28·(k/7) + r(r+1)/2 with r = k%7.
	r := k % 7
	steps := float64(28*(k/7) + r*(r+1)/2)
	nb := len(histogramBoundsArr) + 1
	for i := range vals {
		vals[i] = steps * float64(i%nb+1) * 1.5
	}
}
