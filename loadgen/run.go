package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silverback-tsdb/tsdb/internal/cputime"
)

// Config configures Run. Zero fields take the defaults named on them.
type Config struct {
	Workload Workload // default WorkloadNode
	Protocol Protocol // default ProtocolInflux
	// Target receives the requests (required): an *HTTPTarget, a
	// *NullTarget, the in-process target of package loadgen/inprocess, or
	// any other implementation.
	Target Target

	// Hosts is the number of simulated hosts (default DefaultHosts;
	// HighCardHosts for WorkloadHighCard).
	Hosts int
	// Interval is the scrape interval of every host (default 15s).
	Interval time.Duration
	// Seed selects the data; the same Config sends the same samples.
	Seed int64
	// Start is the first scrape's timestamp, ms since the epoch (default:
	// now for the paced workloads, now − BackfillRange for backfill). Set
	// it in the past for servers that reject future samples, or fixed for
	// reproducible bytes.
	Start int64
	// ChurnEvery is the lifetime of an instance in WorkloadChurn
	// (default 10m).
	ChurnEvery time.Duration
	// BackfillRange is the historical range WorkloadBackfill sends
	// (default one week).
	BackfillRange time.Duration
	// Capture is the capture WorkloadReplay replays (required for it).
	Capture *Capture
	// Unpaced sends any workload as backfill does: as fast as the target
	// takes it, over [Start, Start+BackfillRange), then ends (the replay
	// of a capture into a peer's disk, say). Backfill is always unpaced.
	Unpaced bool
	// Histograms adds to every host of the node, backfill and highcard
	// workloads a classic histogram, http_request_duration_seconds_bucket
	// with 10 handlers × 11 buckets (HistogramSeries series), whose
	// cumulative bucket counts grow by a deterministic amount each scrape
	// (the query benchmark's histogram of queryexec/difftest). The node
	// series are the same with or without it.
	Histograms bool

	// Rate caps the samples sent per second over all workers (0: no cap).
	Rate float64
	// Concurrency is the number of workers, each with one request in
	// flight (default 2; at most Hosts).
	Concurrency int
	// Batch is the number of samples per request (default 2000): a
	// request is sent when it holds Batch samples or, in a paced workload,
	// when its first sample has waited FlushInterval (default 1s) and no
	// scrape is due.
	Batch         int
	FlushInterval time.Duration
	// Retries is how often a request answered with 5xx or 429, or lost
	// to a transport error or timeout, is sent again before it counts as
	// failed (default 0: never; negative is invalid). A retry waits
	// RetryBackoff (default 100ms), doubling each time up to 10s, or the
	// answer's Retry-After when it is longer; other 4xx answers are
	// never retried (the request itself is bad).
	Retries      int
	RetryBackoff time.Duration
	// Duration ends the run after this long (0: when the workload ends —
	// backfill — or ctx is done).
	Duration time.Duration

	// Progress, when set, receives one progress line per
	// ProgressInterval (default 1s).
	Progress         io.Writer
	ProgressInterval time.Duration
}

// Defaults of the run options.
const (
	DefaultConcurrency = 2
	DefaultBatch       = 2000
	// DefaultFlushInterval is vmagent's default flush interval; a
	// Prometheus remote-write queue waits up to 5 s.
	DefaultFlushInterval = time.Second
	DefaultRetryBackoff  = 100 * time.Millisecond
	maxRetryBackoff      = 10 * time.Second
)

// withDefaults validates c and fills its zero fields; now is the wall
// clock in ms. Errors name the field.
func (c Config) withDefaults(now int64) (Config, error) {
	if c.Workload == "" {
		c.Workload = WorkloadNode
	}
	if _, err := ParseWorkload(string(c.Workload)); err != nil {
		return c, err
	}
	if c.Protocol == "" {
		c.Protocol = ProtocolInflux
	}
	if _, err := ParseProtocol(string(c.Protocol)); err != nil {
		return c, err
	}
	if c.Target == nil {
		return c, fmt.Errorf("loadgen: no target")
	}
	switch {
	case c.Hosts < 0:
		return c, fmt.Errorf("loadgen: hosts = %d, want > 0", c.Hosts)
	case c.Hosts == 0 && c.Workload == WorkloadHighCard:
		c.Hosts = HighCardHosts
	case c.Hosts == 0:
		c.Hosts = DefaultHosts
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Interval < time.Millisecond {
		return c, fmt.Errorf("loadgen: interval = %v, want >= 1ms", c.Interval)
	}
	if c.ChurnEvery == 0 {
		c.ChurnEvery = DefaultChurnEvery
	}
	if c.ChurnEvery < time.Millisecond {
		return c, fmt.Errorf("loadgen: churn period = %v, want >= 1ms", c.ChurnEvery)
	}
	if c.BackfillRange == 0 {
		c.BackfillRange = DefaultBackfillRange
	}
	if c.BackfillRange < 0 {
		return c, fmt.Errorf("loadgen: backfill range = %v, want > 0", c.BackfillRange)
	}
	if c.Workload == WorkloadReplay && c.Capture == nil {
		return c, fmt.Errorf("loadgen: workload replay needs a capture")
	}
	if c.Histograms && (c.Workload == WorkloadReplay || c.Workload == WorkloadChurn) {
		return c, fmt.Errorf("loadgen: histograms are for the node, backfill and highcard workloads, not %s", c.Workload)
	}
	if c.Start == 0 {
		c.Start = now
		if c.Workload == WorkloadBackfill {
			c.Start = now - c.BackfillRange.Milliseconds()
		}
	}
	if c.Start < 0 {
		return c, fmt.Errorf("loadgen: start = %d, want >= 0 (ms since the epoch)", c.Start)
	}
	if (c.Protocol == ProtocolRW1 || c.Protocol == ProtocolRW2) && (c.Start < rwTSMin || c.Start > rwTSMax) {
		return c, fmt.Errorf("loadgen: start = %d: remote write timestamps must lie in [%d, %d] ms (1971 to 2109)", c.Start, rwTSMin, rwTSMax)
	}
	if c.Rate < 0 {
		return c, fmt.Errorf("loadgen: rate = %v, want >= 0 (0: unlimited)", c.Rate)
	}
	switch {
	case c.Concurrency < 0:
		return c, fmt.Errorf("loadgen: concurrency = %d, want > 0", c.Concurrency)
	case c.Concurrency == 0:
		c.Concurrency = DefaultConcurrency
	}
	c.Concurrency = min(c.Concurrency, c.Hosts)
	switch {
	case c.Batch < 0:
		return c, fmt.Errorf("loadgen: batch = %d, want > 0", c.Batch)
	case c.Batch == 0:
		c.Batch = DefaultBatch
	}
	switch {
	case c.FlushInterval < 0:
		return c, fmt.Errorf("loadgen: flush interval = %v, want > 0", c.FlushInterval)
	case c.FlushInterval == 0:
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Retries < 0 {
		return c, fmt.Errorf("loadgen: retries = %d, want >= 0", c.Retries)
	}
	switch {
	case c.RetryBackoff < 0:
		return c, fmt.Errorf("loadgen: retry backoff = %v, want > 0", c.RetryBackoff)
	case c.RetryBackoff == 0:
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.Duration < 0 {
		return c, fmt.Errorf("loadgen: duration = %v, want >= 0", c.Duration)
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = time.Second
	}
	return c, nil
}

// stats are the counters the workers share with the reporter.
type stats struct {
	samples        atomic.Int64 // acknowledged
	samplesFailed  atomic.Int64
	requests       atomic.Int64 // acknowledged
	requestsFailed atomic.Int64
	retries        atomic.Int64
	bytes          atomic.Int64
	rawBytes       atomic.Int64
	errs           [numErrorClasses]atomic.Int64
	lat            histogram
	firstT, lastT  atomic.Int64 // ms: the timestamps of the first and newest scrape sent
	lagNs          atomic.Int64 // the most a worker was behind its schedule lately
	firstErr       struct {
		sync.Mutex
		text string
	}
}

var errorClasses = [...]string{"4xx", "5xx", "other_status", "timeout", "transport"}

const numErrorClasses = len(errorClasses)

func (s *stats) recordError(err error) {
	c := errorClass(err)
	for i, n := range errorClasses {
		if n == c {
			s.errs[i].Add(1)
		}
	}
	s.firstErr.Lock()
	if s.firstErr.text == "" {
		s.firstErr.text = err.Error()
	}
	s.firstErr.Unlock()
}

// Run generates the workload and sends it to c.Target until the workload
// ends (backfill), c.Duration passes or ctx is done, and returns what was
// sent. Ending by ctx is a normal end: the summary is returned with a nil
// error. Requests in flight then complete (bounded by the target's own
// timeout); requests not yet sent are dropped. A failed request is retried
// up to c.Retries times (see Config.Retries), then counted. The error is for invalid configuration and for failures to
// generate (a timestamp a protocol cannot carry, a label set the line
// protocol cannot express).
//
// Run starts c.Concurrency workers and one reporter goroutine and waits for
// all of them before it returns.
func Run(ctx context.Context, c Config) (Summary, error) {
	c, err := c.withDefaults(time.Now().UnixMilli())
	if err != nil {
		return Summary{}, err
	}
	s, err := newShape(&c)
	if err != nil {
		return Summary{}, err
	}
	var st stats
	st.firstT.Store(math.MaxInt64)
	workers := make([]*worker, c.Concurrency)
	lim := newLimiter(c.Rate, c.Batch)
	for w := range workers {
		lo, hi := w*c.Hosts/c.Concurrency, (w+1)*c.Hosts/c.Concurrency
		wk, err := newWorker(&c, s, lo, hi, lim, &st)
		if err != nil {
			return Summary{}, err
		}
		workers[w] = wk
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if c.Duration > 0 {
		var cancelT context.CancelFunc
		runCtx, cancelT = context.WithTimeout(runCtx, c.Duration)
		defer cancelT()
	}
	// In-flight requests complete even when the run is stopped.
	sendCtx := context.WithoutCancel(ctx)

	cpu0, cpuOK := cputime.Process()
	wallStart := time.Now()
	rep := newReporter(&c, s, &st, wallStart)
	var wg sync.WaitGroup
	errs := make([]error, len(workers))
	for i, wk := range workers {
		wg.Go(func() {
			errs[i] = wk.run(runCtx, sendCtx, wallStart)
			if errs[i] != nil {
				stop() // one worker failing ends the run
			}
		})
	}
	repDone := make(chan struct{})
	var repWG sync.WaitGroup
	repWG.Go(func() { rep.run(ctx, repDone) })
	wg.Wait()
	close(repDone)
	repWG.Wait()
	elapsed := time.Since(wallStart)
	cpu1, _ := cputime.Process()

	sum := rep.summary(elapsed)
	if cpuOK {
		sum.CPUSeconds = (cpu1 - cpu0).Seconds()
		if sum.Samples > 0 {
			sum.CPUSecondsPerMillion = sum.CPUSeconds / float64(sum.Samples) * 1e6
		}
	}
	return sum, errors.Join(errs...)
}

// retryable reports whether a Send error is worth repeating (5xx, 429,
// timeout, transport) and the wait the target asked for (Retry-After).
func retryable(err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter, se.Code == 429 || se.Code >= 500
	}
	switch errorClass(err) {
	case "timeout", "transport":
		return 0, true
	}
	return 0, false
}

// worker owns a contiguous range of hosts, their generators and its
// encoder, and sends one request at a time. Owned by its goroutine.
//
// Design. A worker loops over its hosts in the order of their next scrape
// (a min-heap on the timestamp; hosts keep their own clocks, phases and
// jitter, so the order shifts a little every interval):
//
//  1. Paced workloads wait until the wall clock reaches the host's next
//     timestamp (mapped through wallStart); while waiting, a pending
//     request whose first sample has waited FlushInterval is sent.
//  2. The host's source makes the scrape (values, timestamp; a churned
//     host gets a new instance and its encoder state is rebuilt).
//  3. The encoder appends the scrape's series to the pending request;
//     whenever it holds Batch samples it is sent (rate limiter first),
//     synchronously: one request in flight per worker, and the payload's
//     buffers are reused as soon as Send returns.
//
// Stopping: runCtx ends generation and waiting (Duration, the caller's
// ctx, another worker's failure); a Send already started finishes under
// sendCtx, which is never cancelled (targets bound it by their timeout).
// The pending request of a stopped worker is dropped, not sent.
//
// Tried and dropped: sending the pending request whenever the next scrape
// was not due yet. With hosts spread over the interval that sent one
// host's scrape per request (507 samples) whatever Batch said, unlike
// remote-write queues and vmagent, which wait for a batch up to a
// deadline; a server's cost per sample depends on the request size.
type worker struct {
	c       *Config
	s       *shape
	hosts   []*host
	heap    []heapEntry // hosts by next scrape time
	enc     encoder
	lim     *limiter
	st      *stats
	timer   *time.Timer
	p       Payload
	pending int // samples in the request being built
	// pendingSince is when the first of them was added (paced workloads).
	pendingSince time.Time
	rwRange      bool
}

type heapEntry struct {
	t int64 // ms: the host's next scrape
	h int32 // index in hosts
}

func newWorker(c *Config, s *shape, lo, hi int, lim *limiter, st *stats) (*worker, error) {
	enc, err := newEncoder(c.Protocol, s, hi-lo)
	if err != nil {
		return nil, err
	}
	w := &worker{
		c: c, s: s, enc: enc, lim: lim, st: st,
		p:       Payload{Protocol: c.Protocol},
		rwRange: c.Protocol == ProtocolRW1 || c.Protocol == ProtocolRW2,
	}
	for id := lo; id < hi; id++ {
		h := s.newHost(id, id-lo)
		if err := enc.prepare(h); err != nil {
			return nil, err
		}
		w.hosts = append(w.hosts, h)
		w.heap = append(w.heap, heapEntry{t: h.src.nextT(), h: int32(len(w.hosts) - 1)})
	}
	for i := len(w.heap)/2 - 1; i >= 0; i-- {
		w.down(i)
	}
	return w, nil
}

// down restores the heap order below i.
func (w *worker) down(i int) {
	n := len(w.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && w.heap[r].t < w.heap[l].t {
			m = r
		}
		if w.heap[i].t <= w.heap[m].t {
			return
		}
		w.heap[i], w.heap[m] = w.heap[m], w.heap[i]
		i = m
	}
}

// run sends scrapes in timestamp order until the worker's hosts reach the
// workload's end or ctx is done.
func (w *worker) run(ctx, sendCtx context.Context, wallStart time.Time) error {
	w.timer = time.NewTimer(time.Hour)
	w.timer.Stop()
	defer w.timer.Stop()
	for len(w.heap) > 0 {
		e := w.heap[0]
		if e.t >= w.s.end {
			last := len(w.heap) - 1
			w.heap[0] = w.heap[last]
			w.heap = w.heap[:last]
			w.down(0)
			continue
		}
		if w.s.paced {
			due := wallStart.Add(time.Duration(e.t-w.s.start) * time.Millisecond)
			if d := time.Until(due); d > 0 {
				// A request waits at most FlushInterval for more samples,
				// as a remote-write queue's batch deadline makes it.
				if flushAt := w.pendingSince.Add(w.c.FlushInterval); w.pending > 0 && flushAt.Before(due) {
					if sleep(ctx, w.timer, time.Until(flushAt)) != nil {
						return nil
					}
					w.flush(ctx, sendCtx)
				}
				if sleep(ctx, w.timer, time.Until(due)) != nil {
					return nil
				}
			} else if lag := -d; lag > time.Duration(w.st.lagNs.Load()) {
				w.st.lagNs.Store(int64(lag))
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := w.step(ctx, sendCtx); err != nil {
			return err
		}
	}
	if w.pending > 0 {
		w.flush(ctx, sendCtx)
	}
	return nil
}

// step makes the next scrape of the host first in the heap and adds it to
// requests, sending those that fill.
func (w *worker) step(ctx, sendCtx context.Context) error {
	h := w.hosts[w.heap[0].h]
	if err := w.scrape(h); err != nil {
		return err
	}
	w.heap[0].t = h.src.nextT()
	w.down(0)
	w.addHost(ctx, sendCtx, h)
	return nil
}

// scrape advances h to its next scrape.
func (w *worker) scrape(h *host) error {
	h.src.scrape(h)
	if w.rwRange && (h.cur < rwTSMin || h.cur > rwTSMax) {
		return fmt.Errorf("loadgen: host %d: timestamp %d outside the remote-write range [%d, %d]", h.id, h.cur, rwTSMin, rwTSMax)
	}
	if h.relabel {
		h.relabel = false
		if err := w.enc.prepare(h); err != nil {
			return err
		}
	}
	return nil
}

// addHost adds h's current scrape to requests, sending each that fills.
func (w *worker) addHost(ctx, sendCtx context.Context, h *host) {
	n := w.s.numSeries()
	for i := 0; i < n; {
		j := min(n, i+w.c.Batch-w.pending)
		if w.pending == 0 && w.s.paced {
			w.pendingSince = time.Now()
		}
		w.pending += w.enc.add(h, i, j)
		i = j
		if w.pending >= w.c.Batch {
			w.flush(ctx, sendCtx)
		}
	}
	for {
		first := w.st.firstT.Load()
		if h.cur >= first || w.st.firstT.CompareAndSwap(first, h.cur) {
			break
		}
	}
	for {
		last := w.st.lastT.Load()
		if h.cur <= last || w.st.lastT.CompareAndSwap(last, h.cur) {
			break
		}
	}
}

// flush sends the request being built, after the rate limiter lets it.
// A request the stop interrupts in the limiter is dropped.
func (w *worker) flush(ctx, sendCtx context.Context) {
	w.enc.finish(&w.p)
	w.p.Samples = w.pending
	w.pending = 0
	if err := w.lim.wait(ctx, w.p.Samples, w.timer); err != nil {
		return
	}
	backoff := w.c.RetryBackoff
	var err error
	for attempt := 0; ; attempt++ {
		t0 := time.Now()
		err = w.c.Target.Send(sendCtx, &w.p)
		w.st.lat.record(time.Since(t0))
		wait, retry := retryable(err)
		if !retry || attempt >= w.c.Retries {
			break
		}
		w.st.retries.Add(1)
		// A retry waits under ctx: a stopped run does not retry.
		if sleep(ctx, w.timer, max(backoff, wait)) != nil {
			break
		}
		backoff = min(2*backoff, maxRetryBackoff)
	}
	if err != nil {
		w.st.requestsFailed.Add(1)
		w.st.samplesFailed.Add(int64(w.p.Samples))
		w.st.recordError(err)
	} else {
		w.st.requests.Add(1)
		w.st.samples.Add(int64(w.p.Samples))
	}
	w.st.bytes.Add(int64(len(w.p.Body)))
	w.st.rawBytes.Add(int64(w.p.RawBytes))
}
