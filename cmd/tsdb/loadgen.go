package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/loadgen"
	"github.com/silverback-tsdb/tsdb/loadgen/inprocess"
	"github.com/silverback-tsdb/tsdb/pipeline"
)

// loadgenFlags are the raw flag values of `tsdb loadgen`; parse turns them
// into a loadgen.Config, naming the flag of any bad value.
type loadgenFlags struct {
	workload, protocol, addr      string
	hosts, concurrency, batch     int
	interval, duration, rate      string
	flushInterval                 string
	churnEvery, backfill, start   string
	seed                          int64
	capture, dataDir, summaryFile string
	metricsURL, inboxMetric       string
	timeout                       time.Duration
	quiet, gzip, histograms       bool
	headers                       []string
	retries                       int
	retryBackoff                  string
}

func newLoadgenCmd(g *globalFlags) *cobra.Command {
	var f loadgenFlags
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Generate a deterministic monitoring workload and send it to a server (or into an in-process database)",
		Long: `Send a deterministic workload to --addr over --protocol and print a progress
line every second on stderr (samples/s, requests, p50/p99 latency, errors,
the server's inbox depth from its /metrics, how far behind schedule the
generator is) and a JSON summary on stdout when it ends.

Workloads: node (node_exporter-like hosts from a real scrape, 507 series
each), churn (instances replaced every --churn-every), highcard (1,000,311
active series by default), backfill (a historical --range sent as fast as
the target takes it), replay (a real capture file, --capture, re-timed and
repeated). Protocols: influx (line protocol), rw1, rw2 (Prometheus remote
write 1.0 and 2.0), otlp (OTLP/HTTP protobuf), inprocess (straight into a
database in --data-dir, without HTTP).

--addr is any URL, so peers can be driven too; without a path the
protocol's usual one is used (/write, /api/v1/write, /v1/metrics).
'--addr null:' discards every request (measures the generator alone).
The run ends after --duration, at the end of a backfill, or on SIGINT /
SIGTERM (the summary is printed in every case). See docs/OPERATIONS.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.newLogger()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runLoadgen(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), f, log, time.Now())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.workload, "workload", "node", "node, churn, highcard, backfill or replay")
	fl.StringVar(&f.protocol, "protocol", "influx", "influx, rw1, rw2, otlp or inprocess")
	fl.StringVar(&f.addr, "addr", "http://localhost:8080", "target URL (http[s]://host:port[/path]) or null: to discard; ignored for --protocol=inprocess")
	fl.IntVar(&f.hosts, "hosts", 0, "simulated hosts, 507 series each (0: 100; highcard: 1973)")
	fl.StringVar(&f.interval, "interval", "15s", "scrape interval of every host")
	fl.StringVar(&f.rate, "rate", "unlimited", "cap on samples/s over all workers (500000, 500K, 1.5M; unlimited or 0: no cap)")
	fl.IntVar(&f.concurrency, "concurrency", loadgen.DefaultConcurrency, "workers, each with one request in flight")
	fl.IntVar(&f.batch, "batch", loadgen.DefaultBatch, "samples per request")
	fl.StringVar(&f.flushInterval, "flush-interval", "1s", "paced workloads: send a request whose first sample waited this long, full or not")
	fl.StringVar(&f.duration, "duration", "0", "stop after this long (0: at the end of a backfill, or on a signal)")
	fl.Int64Var(&f.seed, "seed", 1, "random seed: the same flags send the same samples")
	fl.StringVar(&f.start, "start", "", "first scrape's time: RFC 3339, Unix seconds, now, or now-DURATION (default: now; backfill: now - --range)")
	fl.StringVar(&f.churnEvery, "churn-every", "10m", "churn: lifetime of an instance")
	fl.StringVar(&f.backfill, "range", "1w", "backfill: the historical range to send")
	fl.StringVar(&f.capture, "capture", "", "replay: capture file (text exposition lines with ms timestamps, e.g. node_exporter_10min.prom)")
	fl.StringVar(&f.dataDir, "data-dir", "", "inprocess: database directory (default: a temporary one, removed at the end)")
	fl.StringVar(&f.summaryFile, "summary-file", "", "also write the JSON summary to this file")
	fl.StringVar(&f.metricsURL, "metrics-url", "", "where to read the server's inbox depth (default: the --addr host's /metrics; - disables)")
	fl.StringVar(&f.inboxMetric, "inbox-metric", loadgen.DefaultInboxMetric, "metric summed for the inbox depth")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "timeout of each request")
	fl.StringArrayVar(&f.headers, "header", nil, "extra request header 'Name: value' (repeatable), e.g. 'Authorization: Token x'")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress lines")
	fl.BoolVar(&f.histograms, "histograms", false, "node, backfill, highcard: add a classic histogram per host (http_request_duration_seconds_bucket, 10 handlers × 11 buckets)")
	fl.BoolVar(&f.gzip, "gzip", false, "gzip influx and otlp request bodies (Content-Encoding: gzip)")
	fl.IntVar(&f.retries, "retries", 3, "send a request answered 5xx or 429 (or lost to a timeout) again up to this often")
	fl.StringVar(&f.retryBackoff, "retry-backoff", "100ms", "first wait before a retry, doubling up to 10s (at least the answer's Retry-After)")
	return cmd
}

// flagErr wraps err as an invalid value of flag name.
func flagErr(name string, err error) error {
	return fmt.Errorf("%w: --%s: %w", errFlag, name, err)
}

// parse builds the run configuration (without its target) from f.
func (f *loadgenFlags) parse(now time.Time) (loadgen.Config, error) {
	var (
		c   loadgen.Config
		err error
	)
	if c.Workload, err = loadgen.ParseWorkload(f.workload); err != nil {
		return c, flagErr("workload", err)
	}
	if c.Protocol, err = loadgen.ParseProtocol(f.protocol); err != nil {
		return c, flagErr("protocol", err)
	}
	for _, d := range []struct {
		name, val string
		dst       *time.Duration
	}{
		{"interval", f.interval, &c.Interval},
		{"flush-interval", f.flushInterval, &c.FlushInterval},
		{"duration", f.duration, &c.Duration},
		{"churn-every", f.churnEvery, &c.ChurnEvery},
		{"range", f.backfill, &c.BackfillRange},
		{"retry-backoff", f.retryBackoff, &c.RetryBackoff},
	} {
		if *d.dst, err = parseDuration(d.val); err != nil {
			return c, flagErr(d.name, err)
		}
	}
	if c.Interval <= 0 {
		return c, flagErr("interval", fmt.Errorf("%q: want > 0", f.interval))
	}
	if c.FlushInterval <= 0 {
		return c, flagErr("flush-interval", fmt.Errorf("%q: want > 0", f.flushInterval))
	}
	if c.ChurnEvery <= 0 {
		return c, flagErr("churn-every", fmt.Errorf("%q: want > 0", f.churnEvery))
	}
	if c.BackfillRange <= 0 {
		return c, flagErr("range", fmt.Errorf("%q: want > 0", f.backfill))
	}
	if c.RetryBackoff <= 0 {
		return c, flagErr("retry-backoff", fmt.Errorf("%q: want > 0", f.retryBackoff))
	}
	if f.retries < 0 {
		return c, flagErr("retries", fmt.Errorf("%d: want >= 0", f.retries))
	}
	c.Retries = f.retries
	c.Histograms = f.histograms
	if f.gzip && c.Protocol != loadgen.ProtocolInflux && c.Protocol != loadgen.ProtocolOTLP {
		return c, flagErr("gzip", fmt.Errorf("only influx and otlp bodies are gzipped (remote write is snappy-compressed; inprocess has no body)"))
	}
	if c.Rate, err = parseRate(f.rate); err != nil {
		return c, flagErr("rate", err)
	}
	if c.Start, err = parseStart(f.start, now); err != nil {
		return c, flagErr("start", err)
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"hosts", f.hosts}, {"concurrency", f.concurrency}, {"batch", f.batch}} {
		if n.v < 0 || n.v == 0 && n.name != "hosts" {
			return c, flagErr(n.name, fmt.Errorf("%d: want > 0", n.v))
		}
	}
	c.Hosts, c.Concurrency, c.Batch, c.Seed = f.hosts, f.concurrency, f.batch, f.seed
	switch {
	case c.Workload == loadgen.WorkloadReplay && f.capture == "":
		return c, flagErr("capture", errors.New("the replay workload needs a capture file"))
	case c.Workload != loadgen.WorkloadReplay && f.capture != "":
		return c, flagErr("capture", errors.New("only the replay workload reads a capture"))
	}
	if f.dataDir != "" && c.Protocol != loadgen.ProtocolInProcess {
		return c, flagErr("data-dir", errors.New("only --protocol=inprocess uses a data directory"))
	}
	return c, nil
}

// parseRate parses a samples/s cap: a number with an optional K or M
// suffix, or "unlimited" (0).
func parseRate(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if t == "unlimited" || t == "" {
		return 0, nil
	}
	mul := 1.0
	switch {
	case strings.HasSuffix(t, "K") || strings.HasSuffix(t, "k"):
		mul, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mul, t = 1e6, t[:len(t)-1]
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v != v {
		return 0, fmt.Errorf("%q: want a number of samples/s (500000, 500K, 1.5M) or unlimited", s)
	}
	return v * mul, nil
}

// parseStart parses --start: "" (0: the workload's default), "now",
// "now-DURATION", RFC 3339 or Unix seconds.
func parseStart(s string, now time.Time) (int64, error) {
	switch {
	case s == "":
		return 0, nil
	case s == "now":
		return now.UnixMilli(), nil
	case strings.HasPrefix(s, "now-"):
		d, err := parseDuration(s[len("now-"):])
		if err != nil {
			return 0, err
		}
		return now.Add(-d).UnixMilli(), nil
	}
	return parseTime(s)
}

// runLoadgen runs the load generator: progress lines to errOut, the JSON
// summary to out (and --summary-file).
func runLoadgen(ctx context.Context, out, errOut io.Writer, f loadgenFlags, log *zap.Logger, now time.Time) (err error) {
	c, err := f.parse(now)
	if err != nil {
		return err
	}
	if c.Workload == loadgen.WorkloadReplay {
		if c.Capture, err = loadgen.ReadCaptureFile(f.capture); err != nil {
			return flagErr("capture", err)
		}
	}
	target := f.addr
	switch {
	case c.Protocol == loadgen.ProtocolInProcess:
		t, err := inprocess.Open(f.dataDir, pipeline.Options{Logger: log})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, t.Close()) }()
		c.Target, target = t, "inprocess:"+t.DB().Dir()
	case f.addr == "null:":
		c.Target = &loadgen.NullTarget{}
	default:
		header := map[string]string{}
		for _, h := range f.headers {
			k, v, ok := strings.Cut(h, ":")
			if !ok || strings.TrimSpace(k) == "" {
				return flagErr("header", fmt.Errorf("%q: want 'Name: value'", h))
			}
			header[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		t, err := loadgen.NewHTTPTarget(loadgen.HTTPOptions{
			URL: f.addr, Protocol: c.Protocol, Timeout: f.timeout,
			MetricsURL: f.metricsURL, InboxMetric: f.inboxMetric, Header: header, Gzip: f.gzip,
		})
		if err != nil {
			return flagErr("addr", err)
		}
		defer func() { err = errors.Join(err, t.Close()) }()
		c.Target, target = t, t.URL()
	}
	if !f.quiet {
		c.Progress = errOut
		fmt.Fprintf(errOut, "loadgen: workload %s, protocol %s, target %s\n", c.Workload, c.Protocol, target)
	}
	sum, err := loadgen.Run(ctx, c)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(struct {
		Target string `json:"target"`
		loadgen.Summary
	}{target, sum}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	b = append(b, '\n')
	if _, err := out.Write(b); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if f.summaryFile != "" {
		if err := os.WriteFile(f.summaryFile, b, 0o644); err != nil {
			return fmt.Errorf("write --summary-file: %w", err)
		}
	}
	return nil
}
