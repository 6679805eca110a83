package loadgen

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Summary is what Run sent and how the target took it. It marshals to the
// JSON the `tsdb loadgen` command prints.
type Summary struct {
	Workload      Workload `json:"workload"`
	Protocol      Protocol `json:"protocol"`
	Seed          int64    `json:"seed"`
	Hosts         int      `json:"hosts"`
	SeriesPerHost int      `json:"series_per_host"`
	// ActiveSeries is Hosts × SeriesPerHost: the series live at any time
	// (churn replaces them; see SeriesCreated).
	ActiveSeries  int     `json:"active_series"`
	SeriesCreated int64   `json:"series_created"`
	Concurrency   int     `json:"concurrency"`
	Batch         int     `json:"batch"`
	FlushMs       int64   `json:"flush_interval_ms"`
	RateLimit     float64 `json:"rate_limit"` // samples/s; 0: unlimited
	IntervalMs    int64   `json:"interval_ms"`
	StartMs       int64   `json:"start_ms"`
	// FirstTimestampMs and LastTimestampMs bound the timestamps of the
	// scrapes sent (-1 and 0 when none).
	FirstTimestampMs int64 `json:"first_timestamp_ms"`
	LastTimestampMs  int64 `json:"last_timestamp_ms"`

	Seconds          float64 `json:"duration_seconds"`
	Samples          int64   `json:"samples"` // acknowledged by the target
	SamplesFailed    int64   `json:"samples_failed"`
	SamplesPerSecond float64 `json:"samples_per_second"` // acknowledged
	Requests         int64   `json:"requests"`           // acknowledged
	RequestsFailed   int64   `json:"requests_failed"`
	// Retries counts requests sent again after a retryable failure.
	Retries  int64 `json:"retries"`
	Bytes    int64 `json:"bytes_sent"`         // request bodies as sent
	RawBytes int64 `json:"bytes_uncompressed"` // before snappy (remote write)
	// Errors counts failed requests by class: 4xx, 5xx, other_status,
	// timeout, transport.
	Errors     map[string]int64 `json:"errors"`
	FirstError string           `json:"first_error,omitempty"`
	Latency    LatencySummary   `json:"latency_ms"`
	// CPUSeconds is the CPU time (user + system) of the whole process
	// during the run: the generator's, and for an in-process target the
	// engine's as well. CPUSecondsPerMillion divides it by Samples.
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million_samples"`
	// InboxDepthMax is the largest server inbox depth seen (nil: not
	// available).
	InboxDepthMax *float64 `json:"inbox_depth_max"`
	// MaxLagSeconds is how far behind its schedule the slowest worker fell
	// (paced workloads): the target or the rate cap could not keep up.
	MaxLagSeconds float64 `json:"max_lag_seconds"`
}

// LatencySummary holds request latency quantiles in milliseconds, read
// from a log-scale histogram (±4.5 %).
type LatencySummary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

// Progress is one progress line's content.
type Progress struct {
	Elapsed        time.Duration
	Samples        int64   // acknowledged so far
	SamplesPerSec  float64 // over the last interval
	Requests       int64
	RequestsPerSec float64
	P50, P99       time.Duration // of the last interval's requests
	Errors         int64
	Inbox          float64
	InboxOK        bool
	Lag            time.Duration // behind schedule during the last interval
	// Done is the fraction of a finite workload sent (backfill), or -1.
	Done float64
}

// String formats p as one line:
//
//	12s  253.1K samples/s  1.2K req (102/s)  p50 1.2ms  p99 8.4ms  errors 0  inbox 3  lag 0s
func (p Progress) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%4s  %s samples/s  %s req (%s/s)  p50 %s  p99 %s  errors %d  inbox ",
		p.Elapsed.Truncate(time.Second), formatSI(p.SamplesPerSec), formatSI(float64(p.Requests)),
		formatSI(p.RequestsPerSec), formatLatency(p.P50), formatLatency(p.P99), p.Errors)
	if p.InboxOK {
		b.WriteString(strconv.FormatFloat(p.Inbox, 'f', -1, 64))
	} else {
		b.WriteString("n/a")
	}
	fmt.Fprintf(&b, "  lag %s", p.Lag.Truncate(100*time.Millisecond))
	if p.Done >= 0 {
		fmt.Fprintf(&b, "  done %.1f%%", 100*p.Done)
	}
	return b.String()
}

// formatSI renders v with at most four significant digits and a K, M or G
// suffix: 950, 12.5K, 3.21M.
func formatSI(v float64) string {
	switch {
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 2, 64) + "G"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "K"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// formatLatency renders d with three significant digits: 850µs, 1.25ms, 2.10s.
func formatLatency(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'g', 3, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
}

// reporter prints the progress lines and builds the summary. Owned by its
// goroutine until run returns; summary is called after that.
type reporter struct {
	c       *Config
	s       *shape
	st      *stats
	start   time.Time
	depther InboxDepther // nil when the target has none
	out     io.Writer

	prevAt       time.Time
	prevSamples  int64
	prevRequests int64
	prevLat      histSnapshot
	inboxMax     float64
	inboxSeen    bool
	lagMax       time.Duration
}

func newReporter(c *Config, s *shape, st *stats, start time.Time) *reporter {
	r := &reporter{c: c, s: s, st: st, start: start, out: c.Progress, prevAt: start}
	r.depther, _ = c.Target.(InboxDepther)
	return r
}

// run emits a progress line every interval until done is closed.
func (r *reporter) run(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(r.c.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			p := r.tick(ctx, now)
			if r.out != nil {
				fmt.Fprintln(r.out, p.String())
			}
		}
	}
}

// tick samples the counters at now.
func (r *reporter) tick(ctx context.Context, now time.Time) Progress {
	dt := now.Sub(r.prevAt).Seconds()
	samples, requests := r.st.samples.Load(), r.st.requests.Load()+r.st.requestsFailed.Load()
	var lat histSnapshot
	r.st.lat.snapshot(&lat)
	d := lat.sub(&r.prevLat)
	p := Progress{
		Elapsed:  now.Sub(r.start),
		Samples:  samples,
		Requests: requests,
		P50:      d.quantile(0.5),
		P99:      d.quantile(0.99),
		Lag:      time.Duration(r.st.lagNs.Swap(0)),
		Done:     -1,
	}
	if dt > 0 {
		p.SamplesPerSec = float64(samples-r.prevSamples) / dt
		p.RequestsPerSec = float64(requests-r.prevRequests) / dt
	}
	for i := range r.st.errs {
		p.Errors += r.st.errs[i].Load()
	}
	if r.depther != nil {
		p.Inbox, p.InboxOK = r.depther.InboxDepth(ctx)
		if p.InboxOK {
			r.inboxMax = max(r.inboxMax, p.Inbox)
			r.inboxSeen = true
		}
	}
	r.lagMax = max(r.lagMax, p.Lag)
	if r.s.end != maxTime && r.s.end > r.s.start {
		p.Done = min(1, max(0, float64(r.st.lastT.Load()-r.s.start)/float64(r.s.end-r.s.start)))
	}
	r.prevAt, r.prevSamples, r.prevRequests, r.prevLat = now, samples, requests, lat
	return p
}

// summary builds the run's summary after the workers and run returned.
func (r *reporter) summary(elapsed time.Duration) Summary {
	st := r.st
	var lat histSnapshot
	st.lat.snapshot(&lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	sum := Summary{
		Workload:         r.c.Workload,
		Protocol:         r.c.Protocol,
		Seed:             r.c.Seed,
		Hosts:            r.c.Hosts,
		SeriesPerHost:    r.s.numSeries(),
		ActiveSeries:     r.c.Hosts * r.s.numSeries(),
		Concurrency:      r.c.Concurrency,
		Batch:            r.c.Batch,
		FlushMs:          r.c.FlushInterval.Milliseconds(),
		RateLimit:        r.c.Rate,
		IntervalMs:       r.c.Interval.Milliseconds(),
		StartMs:          r.c.Start,
		FirstTimestampMs: st.firstT.Load(),
		LastTimestampMs:  st.lastT.Load(),
		Seconds:          elapsed.Seconds(),
		Samples:          st.samples.Load(),
		SamplesFailed:    st.samplesFailed.Load(),
		Requests:         st.requests.Load(),
		RequestsFailed:   st.requestsFailed.Load(),
		Retries:          st.retries.Load(),
		Bytes:            st.bytes.Load(),
		RawBytes:         st.rawBytes.Load(),
		Errors:           map[string]int64{},
		Latency: LatencySummary{
			P50: ms(lat.quantile(0.5)), P90: ms(lat.quantile(0.9)),
			P99: ms(lat.quantile(0.99)), P999: ms(lat.quantile(0.999)),
		},
		MaxLagSeconds: max(r.lagMax, time.Duration(st.lagNs.Load())).Seconds(),
	}
	if sum.FirstTimestampMs == maxTime {
		sum.FirstTimestampMs = -1
	}
	sum.SeriesCreated = int64(sum.ActiveSeries)
	if r.s.churn > 0 && sum.LastTimestampMs > r.c.Start {
		// Every host is replaced once per churn period.
		sum.SeriesCreated += (sum.LastTimestampMs - r.c.Start) * int64(sum.ActiveSeries) / r.s.churn
	}
	if elapsed > 0 {
		sum.SamplesPerSecond = float64(sum.Samples) / elapsed.Seconds()
	}
	for i, n := range errorClasses {
		sum.Errors[n] = st.errs[i].Load()
	}
	st.firstErr.Lock()
	sum.FirstError = st.firstErr.text
	st.firstErr.Unlock()
	if r.inboxSeen {
		v := r.inboxMax
		sum.InboxDepthMax = &v
	}
	return sum
}
