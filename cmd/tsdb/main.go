package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/queryexec"
	"github.com/silverback-tsdb/tsdb/shard"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func main() {
	if err := newRootCmd(os.Stdout, os.Stderr).Execute(); err != nil {
		// cobra has printed the error (SilenceErrors is off).
		os.Exit(exitCode(err))
	}
}

// globalFlags are the flags of every subcommand.
type globalFlags struct {
	logLevel  string
	logFormat string
}

// newLogger builds the process logger (to stderr) at the level and in the
// format named by --log.level and --log.format.
func (g *globalFlags) newLogger() (*zap.Logger, error) {
	lvl, err := parseLogLevel(g.logLevel)
	if err != nil {
		return nil, fmt.Errorf("--log.level: %w", err)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.TimeKey = "ts"
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch g.logFormat {
	case "json":
		enc = zapcore.NewJSONEncoder(ec)
	case "logfmt":
		enc = newLogfmtEncoder(ec)
	case "console":
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, fmt.Errorf("--log.format: %w: %q (want json, logfmt or console)", errFlag, g.logFormat)
	}
	// Lifecycle logs only: never sampled, never dropped.
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), zap.NewAtomicLevelAt(lvl))
	return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel)), nil
}

// newRootCmd builds the command tree writing results to out and cobra's
// usage and errors to errOut.
func newRootCmd(out, errOut io.Writer) *cobra.Command {
	var g globalFlags
	root := &cobra.Command{
		Use:   "tsdb",
		Short: "Silverback time-series database",
		Long: `Silverback is a single-node time-series database for monitoring metrics.

'tsdb start' runs the database with its HTTP API (ingest, PromQL queries,
remote read, export, admin). write, query, import and export talk to a
running server (--addr, default $TSDB_ADDR); inspect, compact, snapshot,
delete and clean-tombstones work on a stopped database. See docs/API.md
and docs/OPERATIONS.md.`,
		SilenceUsage: true,
		Version:      versionString(),
	}
	root.SetOut(out)
	root.SetErr(errOut)
	pf := root.PersistentFlags()
	pf.StringVar(&g.logLevel, "log.level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level (old name of --log.level)")
	_ = pf.MarkHidden("log-level")
	pf.StringVar(&g.logFormat, "log.format", "json", "log format on stderr: json, logfmt or console")
	root.AddCommand(
		newStartCmd(&g),
		newInspectCmd(&g),
		newCompactCmd(&g),
		newSnapshotCmd(&g),
		newDeleteCmd(&g),
		newCleanTombstonesCmd(&g),
		newLoadgenCmd(&g),
		newPerfCmd(&g),
		newWriteCmd(),
		newQueryCmd(),
		newImportCmd(),
		newExportCmd(),
	)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return root
}

func newStartCmd(g *globalFlags) *cobra.Command {
	var (
		o                        startOptions
		retention, retentionSize string
		walSync                  string
		configFile, webConfig    string
		maxBody, maxDecoded      string
		maxDecodeInFlight        string
		maxFuture                string
	)
	lim := &o.HTTP.Limits
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the server: every ingest protocol, /metrics, /-/healthy, /-/ready, /debug/pprof",
		Long: `Open (or create) the database in --data-dir and serve on --listen:

  POST /write, /api/v2/write          InfluxDB line protocol (v1, v2)
  POST /api/v1/write                  Prometheus remote write 1.0 and 2.0, or JSON
  POST /opentelemetry/v1/metrics      OTLP/HTTP metrics (also /api/v1/otlp/v1/metrics)
  POST /api/v1/import/prometheus      Prometheus text exposition / OpenMetrics
  POST /api/v1/import/csv             CSV with a column spec (?format=...)
  GET  /metrics, /-/healthy, /-/ready, /debug/pprof/

The listener is served before the WAL replay: /-/healthy answers at once,
/-/ready and the ingest endpoints answer 503 until the database is open.
Every flag may also be set by an environment variable (TSDB_ and the flag
name upper-cased with '.' and '-' as '_', e.g. TSDB_DATA_DIR) or by a key of
the YAML --config.file with the flag's name; precedence: flag, environment,
config file, default. See docs/OPERATIONS.md and docs/API.md.

SIGINT or SIGTERM shuts down gracefully: the HTTP server stops, then the
database drains every shard and fsyncs its WAL; the exit status is 0. A
second signal exits at once with status 1 (acknowledged samples are in the
WAL and are replayed at the next start).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnvAndConfig(cmd.Flags(), configFile, os.LookupEnv); err != nil {
				return err
			}
			var err error
			if o.Retention, err = parseDuration(retention); err != nil {
				return fmt.Errorf("--retention: %w", err)
			}
			if o.RetentionBytes, err = parseSize(retentionSize); err != nil {
				return fmt.Errorf("--retention-size: %w", err)
			}
			if o.MaxFuture, err = parseDuration(maxFuture); err != nil || o.MaxFuture < 0 {
				return fmt.Errorf("--ingest.max-future: %w: %q (want a duration such as 2d or 1h; 0: no bound)", errFlag, maxFuture)
			}
			if o.WALSync, err = parseSyncMode(walSync); err != nil {
				return fmt.Errorf("--wal-sync: %w", err)
			}
			if o.Shards < 0 || o.Shards > 100 {
				return fmt.Errorf("--shards: %w: %d (want 0 to 100)", errFlag, o.Shards)
			}
			for _, sz := range []struct {
				name string
				s    string
				dst  *int
			}{{"--ingest.max-body-size", maxBody, &lim.MaxBodyBytes}, {"--ingest.max-decoded-body-size", maxDecoded, &lim.MaxDecodedBytes}} {
				n, err := parseSize(sz.s)
				if err != nil || n <= 0 || n > 1<<31-1 {
					return fmt.Errorf("%s: %w: %q (want a size from 1B to 2GiB)", sz.name, errFlag, sz.s)
				}
				*sz.dst = int(n)
			}
			if lim.MaxDecodeBytesInFlight, err = parseSize(maxDecodeInFlight); err != nil || lim.MaxDecodeBytesInFlight <= 0 {
				return fmt.Errorf("--ingest.max-decode-bytes-in-flight: %w: %q", errFlag, maxDecodeInFlight)
			}
			if o.HTTP.InfluxDBLabel != "" && !validLabelName(o.HTTP.InfluxDBLabel) {
				return fmt.Errorf("--influx.db-label: %w: %q is not a label name", errFlag, o.HTTP.InfluxDBLabel)
			}
			if webConfig != "" {
				if o.HTTP.Web, err = httpfast.LoadWebConfig(webConfig); err != nil {
					return fmt.Errorf("--web.config.file: %w", err)
				}
			}
			log, err := g.newLogger()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			o.Logger = log
			o.Flags = map[string]string{}
			cmd.Flags().VisitAll(func(f *pflag.Flag) { o.Flags[f.Name] = f.Value.String() })
			o.RetentionText = retention

			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(sigs)
			done := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				watchSignals(done, sigs, func() {
					log.Info("signal received: graceful shutdown (send another to exit at once)")
					cancel()
				}, func(code int) {
					log.Warn("second signal: exiting without draining")
					_ = log.Sync()
					os.Exit(code)
				})
			})
			err = runStart(ctx, o)
			close(done)
			wg.Wait()
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config.file", "", "YAML file whose keys are these flags' names (flags and environment variables override it)")
	f.StringVar(&o.Listen, "listen", ":8080", "address of the HTTP server (every endpoint)")
	f.StringVar(&o.PprofListen, "pprof-listen", "", "separate address for /debug/pprof/ (default: served on --listen)")
	f.StringVar(&o.DataDir, "data-dir", "./data", "data directory (created if absent)")
	f.StringVar(&retention, "retention", "0", "delete blocks entirely older than this, relative to the newest sample (30d, 2h, 1w; 0 keeps everything)")
	f.StringVar(&retentionSize, "retention-size", "0", "delete the oldest blocks while all blocks exceed this size (50GB, 512MiB; binary units; 0: no bound); each shard keeps its share")
	f.IntVar(&o.Shards, "shards", 0, "shard count of a new data directory (0: GOMAXPROCS; an existing directory keeps its recorded count, another value is an error)")
	f.StringVar(&walSync, "wal-sync", "batch", "WAL durability: always (fsync before acknowledging), batch (fsync every 10ms), none (never fsync on write)")
	f.IntVar(&o.MaxActiveSeries, "storage.max-active-series", 0, "bound on active series (0: unlimited); samples of new series over it are rejected (HTTP 429)")
	f.Int64Var(&o.QueryCacheBytes, "query.cache-size", queryexec.DefaultCacheBytes, "bytes of range query results cached for repeated dashboard queries (exact: late writes, deletes and retention invalidate the steps they touch); 0: off")
	f.IntVar(&o.HeadSnapshotSamplesPerSeries, "storage.head-snapshot-samples-per-series", shard.DefaultHeadSnapshotSamplesPerSeries, "a shard writes a head snapshot in the background once this many samples per active series were appended since its last one; a crash restart loads it and replays only the WAL after it (negative: only at a clean shutdown)")
	f.BoolVar(&o.RangeCodedCompaction, "storage.compaction.range-coded", false, "compaction may write range-coded values (docs/COMPRESSION.md): about 14 % fewer bytes in compacted blocks of real node_exporter data, for compaction at ~0.75 of its speed and slower decoding of those chunks by queries")
	f.IntVar(&o.RouteCacheSize, "storage.route-cache-size", 0, "bound in series on the ingest route cache (raw client series key -> series; 24 B each; about 4x less server CPU per sample into known series; 0: 1048576; -1: off)")
	f.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "time in-flight HTTP requests get at shutdown")
	f.StringVar(&webConfig, "web.config.file", "", "Prometheus web config file: basic_auth_users (bcrypt), tls_server_config (cert_file, key_file, min_version)")
	f.BoolVar(&o.HTTP.EnableAdminAPI, "web.enable-admin-api", false, "enable the admin API endpoints (off: they answer 403)")
	f.DurationVar(&lim.ReadTimeout, "web.read-timeout", httpfast.DefaultReadTimeout, "time to read a whole request, body included")
	f.DurationVar(&lim.WriteTimeout, "web.write-timeout", httpfast.DefaultWriteTimeout, "time to write a response")
	f.DurationVar(&lim.IdleTimeout, "web.idle-timeout", httpfast.DefaultIdleTimeout, "keep-alive connections idle longer are closed")
	f.IntVar(&lim.MaxConnections, "web.max-connections", httpfast.DefaultMaxConnections, "bound on open connections")
	f.StringVar(&maxBody, "ingest.max-body-size", "64MiB", "bound on a request body as sent (413 beyond)")
	f.StringVar(&maxDecoded, "ingest.max-decoded-body-size", "256MiB", "bound on a body after gzip/snappy decompression (413 beyond)")
	f.StringVar(&maxDecodeInFlight, "ingest.max-decode-bytes-in-flight", "1GiB", "bound on decompressed bodies held by all requests (503 beyond)")
	f.StringVar(&maxFuture, "ingest.max-future", "2d", "reject samples more than this ahead of the server's clock (too_far_in_future); 0: no bound")
	f.BoolVar(&o.RejectLate, "ingest.reject-late", false, "reject samples older than their series' last sample (out_of_order) or than the head (too_old) instead of storing them in the out-of-order head")
	f.IntVar(&o.HistoryBlockSamples, "ingest.history-block-samples", shard.DefaultHistoryBlockSamples, "late samples a block range behind the head gathers in a shard before it is written into a block at once (history cut); negative: late samples wait for the next head cut")
	f.IntVar(&lim.MaxLinesPerRequest, "ingest.max-lines-per-request", httpfast.DefaultMaxLinesPerRequest, "bound on lines of line protocol, text and CSV bodies (413 beyond, nothing stored)")
	f.IntVar(&lim.MaxSeriesPerRequest, "ingest.max-series-per-request", httpfast.DefaultMaxSeriesPerRequest, "bound on series of remote-write, JSON and OTLP bodies (413 beyond, nothing stored)")
	f.IntVar(&lim.MaxConcurrentIngest, "ingest.max-concurrent-requests", 0, "ingest requests parsed at once (0: 2 x GOMAXPROCS); others wait --ingest.queue-timeout, then 503")
	f.DurationVar(&lim.QueueTimeout, "ingest.queue-timeout", httpfast.DefaultQueueTimeout, "how long an ingest request waits for a slot")
	f.DurationVar(&lim.AppendTimeout, "ingest.append-timeout", httpfast.DefaultAppendTimeout, "how long an ingest request waits for full shard inboxes before 503")
	f.StringVar(&o.HTTP.InfluxDBLabel, "influx.db-label", "", "add the Influx db (v2: bucket) parameter as a label of this name (default: not added)")
	f.DurationVar(&o.SelfScrapeInterval, "self-scrape.interval", 15*time.Second, "period of the scrape of the server's own /metrics into itself (0: off)")
	f.StringVar(&o.SelfScrapeJob, "self-scrape.job", "tsdb", "job label of the self-scraped series")
	f.IntVar(&o.GCPercent, "memory.gc-percent", DefaultGCPercent, "Go GC target heap growth in percent, applied once the database is open (GOGC; the GOGC environment variable overrides it; lower: peak memory nearer the live heap, more GC CPU)")
	return cmd
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]*.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func newInspectCmd(g *globalFlags) *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [--verify] DIR",
		Short: "Print the blocks of a data, shard or block directory; --verify checks every checksum",
		Long: `Print, per shard, a table of blocks (ULID, time range, series, samples,
chunks, bytes on disk, bytes/sample, compaction level) with totals, the WAL
and head chunk file sizes, and the quarantined blocks. DIR is a data
directory, one shard directory (shards/NN) or one block directory.

inspect only reads. It takes a shared lock on DIR's LOCK file and refuses
to run while a database holds it: stop the database first, or inspect a
snapshot ('tsdb snapshot'). With --verify every block is verified (every
CRC, every chunk decoded, stats against content); the exit status is 1 if
any block fails to open or to verify.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.newLogger()
			if err != nil {
				return err
			}
			o.Logger = log
			return runInspect(cmd.OutOrStdout(), args[0], o)
		},
	}
	cmd.Flags().BoolVar(&o.Verify, "verify", false, "verify every checksum and chunk of every block")
	return cmd
}

// addAdminFlags adds --data-dir (required) to an offline admin command.
func addAdminFlags(cmd *cobra.Command, o *adminOptions) {
	cmd.Flags().StringVar(&o.DataDir, "data-dir", "", "data directory of a stopped database (required)")
	_ = cmd.MarkFlagRequired("data-dir")
}

func newCompactCmd(g *globalFlags) *cobra.Command {
	var (
		o                        adminOptions
		head                     bool
		retention, retentionSize string
	)
	cmd := &cobra.Command{
		Use:   "compact --data-dir=DIR [--head]",
		Short: "Run due head cuts, compactions and retention on a stopped database",
		Long: `Open the stopped database in --data-dir, run every due head cut, leveled and
vertical compaction (applying tombstones) and retention now, and close it.
With --head the whole head is first persisted as blocks (the WAL is then
checkpointed). --retention and --retention-size apply retention as 'start'
does; by default nothing is expired.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Retention, err = parseDuration(retention); err != nil {
				return err
			}
			if o.RetentionBytes, err = parseSize(retentionSize); err != nil {
				return err
			}
			if o.Logger, err = g.newLogger(); err != nil {
				return err
			}
			return runCompact(cmd.Context(), cmd.OutOrStdout(), o, head)
		},
	}
	addAdminFlags(cmd, &o)
	cmd.Flags().BoolVar(&head, "head", false, "persist the whole head as blocks first")
	cmd.Flags().StringVar(&retention, "retention", "0", "apply retention by time (as in start; 0: none)")
	cmd.Flags().StringVar(&retentionSize, "retention-size", "0", "apply retention by size (as in start; 0: none)")
	return cmd
}

func newSnapshotCmd(g *globalFlags) *cobra.Command {
	var o adminOptions
	cmd := &cobra.Command{
		Use:   "snapshot --data-dir=DIR [OUT]",
		Short: "Write a snapshot (hard-linked blocks plus the head as a block) of a stopped database",
		Long: `Write a consistent copy of the stopped database in --data-dir to OUT, which
must not exist (default: DIR/snapshots/<UTC time>): hard links of every block
(no data is copied; OUT must be on the same file system) plus each shard's
head persisted as one more block. OUT is a data directory: restore by
starting with --data-dir=OUT (or moving it into place).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Logger, err = g.newLogger(); err != nil {
				return err
			}
			out := ""
			if len(args) == 1 {
				out = args[0]
			}
			return runSnapshot(cmd.Context(), cmd.OutOrStdout(), o, out, time.Now())
		},
	}
	addAdminFlags(cmd, &o)
	return cmd
}

func newDeleteCmd(g *globalFlags) *cobra.Command {
	var (
		o          adminOptions
		r          deleteRequest
		start, end string
	)
	cmd := &cobra.Command{
		Use:   "delete --data-dir=DIR --match='{...}' [--start=T] [--end=T]",
		Short: "Delete series by selector and time range on a stopped database (tombstones)",
		Long: `Mark the samples of the series matching any --match selector with
start <= t <= end as deleted. Queries stop returning them at once; the data
is removed by compaction or 'tsdb clean-tombstones'. Times are RFC 3339 or
Unix seconds; without --start / --end the range is unbounded on that side.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			r.Mint, r.Maxt = math.MinInt64, math.MaxInt64
			if start != "" {
				if r.Mint, err = parseTime(start); err != nil {
					return err
				}
			}
			if end != "" {
				if r.Maxt, err = parseTime(end); err != nil {
					return err
				}
			}
			if o.Logger, err = g.newLogger(); err != nil {
				return err
			}
			return runDelete(cmd.Context(), cmd.OutOrStdout(), o, r)
		},
	}
	addAdminFlags(cmd, &o)
	cmd.Flags().StringArrayVar(&r.Selectors, "match", nil, `series selector, e.g. '{job="node",instance="a:9100"}' (repeatable)`)
	cmd.Flags().StringVar(&start, "start", "", "first time to delete (RFC 3339 or Unix seconds; default: unbounded)")
	cmd.Flags().StringVar(&end, "end", "", "last time to delete, inclusive (default: unbounded)")
	_ = cmd.MarkFlagRequired("match")
	return cmd
}

func newCleanTombstonesCmd(g *globalFlags) *cobra.Command {
	var o adminOptions
	cmd := &cobra.Command{
		Use:   "clean-tombstones --data-dir=DIR",
		Short: "Rewrite every block with tombstones without the deleted data, on a stopped database",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Logger, err = g.newLogger(); err != nil {
				return err
			}
			return runCleanTombstones(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	addAdminFlags(cmd, &o)
	return cmd
}
