package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/ui"
	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// startOptions configure runStart (the flags of `tsdb start`).
type startOptions struct {
	Listen         string
	PprofListen    string // "": pprof on the main listener
	DataDir        string
	Retention      time.Duration // 0: keep forever
	RetentionBytes int64         // 0: no size bound
	Shards         int           // 0: as recorded, or GOMAXPROCS for a new directory
	WALSync        walseg.SyncMode
	// MaxActiveSeries bounds the database's series (0: unlimited).
	MaxActiveSeries int
	// RouteCacheSize bounds the route cache (pipeline.Options).
	RouteCacheSize int
	// QueryCacheBytes bounds the range query result cache
	// (--query.cache-size; 0: off).
	QueryCacheBytes int64
	// MaxFuture rejects samples more than this ahead of the clock
	// (--ingest.max-future; 0: no bound but the latest supported
	// timestamp).
	MaxFuture time.Duration
	// RejectLate rejects late samples instead of storing them
	// (--ingest.reject-late).
	RejectLate bool
	// HistoryBlockSamples is pipeline.Options.HistoryBlockSamples
	// (--ingest.history-block-samples).
	HistoryBlockSamples int
	// HeadSnapshotSamplesPerSeries is
	// pipeline.Options.HeadSnapshotSamplesPerSeries
	// (--storage.head-snapshot-samples-per-series).
	HeadSnapshotSamplesPerSeries int
	// RangeCodedCompaction is pipeline.Options.RangeCodedCompaction
	// (--storage.compaction.range-coded).
	RangeCodedCompaction bool
	// ShutdownTimeout bounds how long in-flight HTTP requests may take to
	// finish at shutdown before their connections are closed; the
	// database drain that follows is not bounded (it must finish).
	ShutdownTimeout time.Duration
	// HTTP configures the server (limits, auth/TLS, admin gate, Influx db
	// label); Logger, registry and storage are set by runStart.
	HTTP httpfast.Options
	// SelfScrapeInterval is the period of the server's scrape of its own
	// metrics into itself (0: off); SelfScrapeJob its job label.
	SelfScrapeInterval time.Duration
	SelfScrapeJob      string
	// GCPercent is the Go GC's target heap growth (--memory.gc-percent,
	// debug.SetGCPercent), applied unless the GOGC environment variable
	// is set; 0 leaves the runtime's setting.
	GCPercent int
	Logger    *zap.Logger
	// Flags are the flags with their effective values and RetentionText
	// the --retention text, for the status API.
	Flags         map[string]string
	RetentionText string

	// beforeOpen, when set, is called just before the database is
	// opened (tests check the GC setting during Open).
	beforeOpen func()
	// ready, when set, is called once the database is open and the server
	// answers /-/ready with 200, with the bound address (tests listen on
	// port 0) and the database (tests append through it).
	ready func(addr net.Addr, db *pipeline.DB)
}

// DefaultGCPercent is --memory.gc-percent's default. The head is a large,
// long-lived heap (~250 B per active series) that ingest barely adds to
// (0-8 allocations per request), so Go's default of 100, which lets the
// heap grow to twice the live heap between collections, made the peak
// resident set ~2x the steady one (BenchmarkHeadMemory's peakRSSB/series:
// 640 against 303 B/series after 10 scrapes of 1M series); at 30 the peak
// is ~1.3x the live heap, and the extra collections cost little because
// steady ingest allocates little (PERFORMANCE.md, "Head memory").
const DefaultGCPercent = 30

// openBallastBytes is the size of the ballast runStart keeps alive while
// the database opens (openBallast).
const openBallastBytes = 64 << 20

// openBallast returns a pointer-free allocation of openBallastBytes that
// the caller keeps alive during pipeline.Open, or nil when the GOGC
// environment variable is set (the operator's setting then rules). Open
// allocates tens of MB that are garbage at once (files read whole, WAL
// buffers, replay scratch) over a Go heap that stays small (the head is
// mostly off-heap), so at GOGC 100 the collector ran six times in a start
// after SIGKILL (10.1 M samples, 50,700 series), with stop-the-world
// phases of tens of ms at load: ~12 % of the start's CPU (GOGC=off saved
// 21 ms of 177). With the ballast the heap goal is at least twice its size,
// so such an Open collects about once, while a large live heap still sets
// its own goal (no fixed memory limit that a large head could exceed and
// thrash against). The bytes are never written: fresh spans are zero, so
// the ballast takes address space, not resident memory. It is dropped
// once Open returns.
func openBallast() []byte {
	if os.Getenv("GOGC") != "" {
		return nil
	}
	return make([]byte, openBallastBytes)
}

// defaultShutdownTimeout: long enough for a /metrics scrape or a pprof
// profile of a few seconds, short enough that a stuck client cannot hold a
// shutdown for minutes.
const defaultShutdownTimeout = 10 * time.Second

// runStart listens on o.Listen, starts the HTTP server (package httpfast:
// ingest endpoints, /metrics, /-/healthy, /-/ready, /debug/pprof), then
// opens the database in o.DataDir and serves until ctx ends.
//
// The listener is bound and served before the (possibly long) WAL replay,
// so a port conflict fails at once, /-/healthy answers during replay and
// ingest requests get 503 with Retry-After until the database is open.
// When ctx ends, /-/ready turns 503, the self-scrape stops, the HTTP
// server shuts down (in-flight requests get ShutdownTimeout), then the
// database is closed, which drains the shards, fsyncs every WAL and writes
// the head snapshots. It returns nil after a clean shutdown, or the first
// error of listening, opening, serving or closing.
func runStart(ctx context.Context, o startOptions) error {
	startedAt := time.Now()
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = defaultShutdownTimeout
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var pln net.Listener
	if o.PprofListen != "" {
		if pln, err = net.Listen("tcp", o.PprofListen); err != nil {
			return errors.Join(fmt.Errorf("listen pprof: %w", err), ln.Close())
		}
	}
	closeListeners := func() error {
		err := ln.Close()
		if pln != nil {
			err = errors.Join(err, pln.Close())
		}
		return err
	}
	reg := prometheus.NewRegistry()
	if err := registerRuntimeCollectors(reg); err != nil {
		return errors.Join(err, closeListeners())
	}
	reg.MustRegister(newDiskUsageCollector(o.DataDir))
	if err := registerConfigGauges(reg, o.MaxActiveSeries, o.RetentionBytes); err != nil {
		return errors.Join(err, closeListeners())
	}
	ho := o.HTTP
	ho.Logger, ho.Registerer, ho.Gatherer = log, reg, reg
	ho.PprofOnMain = o.PprofListen == ""
	srv, err := httpfast.New(ho)
	if err != nil {
		return errors.Join(err, closeListeners())
	}
	if err := ui.Register(srv); err != nil {
		return errors.Join(err, closeListeners())
	}
	served := make(chan error, 2)
	go func() { served <- srv.Serve(ln) }()
	var psrv *fasthttp.Server
	if pln != nil {
		psrv = httpfast.NewPprofServer(ho.Limits)
		go func() { served <- psrv.Serve(pln) }()
	}
	// From here on every return path shuts the servers down and receives
	// their Serve results, so the Serve goroutines are always waited for.
	stopHTTP := func() error {
		srv.SetReady(false)
		sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
		defer cancel()
		err := srv.Shutdown(sctx)
		n := 1
		if psrv != nil {
			n = 2
			if perr := psrv.ShutdownWithContext(sctx); perr != nil {
				err = errors.Join(err, fmt.Errorf("pprof shutdown: %w", perr))
			}
		}
		for range n {
			if serr := <-served; serr != nil {
				err = errors.Join(err, serr)
			}
		}
		return err
	}
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("pprof", o.PprofListen),
		zap.String("ingest", "/write /api/v2/write /api/v1/write /api/v1/import/prometheus /api/v1/import/csv /opentelemetry/v1/metrics"),
		zap.String("query", "/api/v1/query /api/v1/query_range /api/v1/series /api/v1/labels /api/v1/read /api/v1/export"))

	ballast := openBallast()
	if o.beforeOpen != nil {
		o.beforeOpen()
	}
	db, err := pipeline.Open(o.DataDir, pipeline.Options{
		Shards:                       o.Shards,
		WAL:                          walseg.Options{Sync: o.WALSync},
		Retention:                    o.Retention,
		RetentionBytes:               o.RetentionBytes,
		MaxActiveSeries:              o.MaxActiveSeries,
		RouteCacheSize:               o.RouteCacheSize,
		MaxFuture:                    pipelineMaxFuture(o.MaxFuture),
		RejectLate:                   o.RejectLate,
		HistoryBlockSamples:          o.HistoryBlockSamples,
		HeadSnapshotSamplesPerSeries: o.HeadSnapshotSamplesPerSeries,
		RangeCodedCompaction:         o.RangeCodedCompaction,
		Logger:                       log,
		Registerer:                   reg,
	})
	runtime.KeepAlive(ballast)
	ballast = nil
	if err != nil {
		return errors.Join(fmt.Errorf("open database: %w", err), stopHTTP())
	}
	// The GC target applies from here: during Open the heap only grows
	// (the head being restored is live, little is garbage), so at 30 the
	// collector ran every 30 % of growth, ~10 cycles from an empty heap to
	// the head's, each marking all of it: ~50 ms of a 180 ms restart after
	// SIGKILL (10.1 M samples, 50,700 series). The runtime's default (100,
	// or GOGC) bounds the heap during Open to twice the live one plus the
	// ballast (openBallast), as any Go program's.
	if o.GCPercent != 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(o.GCPercent)
	}
	srv.SetStorage(db)
	srv.SetQueryBackend(&httpfast.QueryBackend{DB: db, Engine: newQueryEngine(db, log, reg, o.QueryCacheBytes), Status: httpfast.StatusInfo{
		Build: buildInfo(), Flags: o.Flags, StartTime: startedAt, Retention: o.RetentionText,
	}})
	log.Info("ready", zap.String("data_dir", o.DataDir), zap.Int("shards", db.NumShards()),
		zap.Stringer("wal_sync", o.WALSync), zap.String("retention", formatDuration(o.Retention.Milliseconds())), zap.Int64("retention_bytes", o.RetentionBytes))

	sctx, stopScrape := context.WithCancel(context.Background())
	var scrapes sync.WaitGroup
	if o.SelfScrapeInterval > 0 {
		scrapes.Go(func() {
			_ = srv.RunSelfScrape(sctx, httpfast.SelfScrapeOptions{
				Gatherer: reg, Interval: o.SelfScrapeInterval, Job: o.SelfScrapeJob, Instance: ln.Addr().String(),
			})
		})
	}
	if o.ready != nil {
		o.ready(ln.Addr(), db)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: stopping http, then draining and syncing the database")
	case serveErr = <-served:
		// A Serve returned on its own (the listener failed): put the value
		// back for stopHTTP, which receives one per server.
		served <- serveErr
		log.Error("http server stopped; shutting down", zap.Error(serveErr))
	}
	start := time.Now()
	stopScrape()
	scrapes.Wait()
	herr := stopHTTP()
	cerr := db.Close()
	if cerr != nil {
		cerr = fmt.Errorf("close database: %w", cerr)
	}
	log.Info("stopped", zap.Duration("dur", time.Since(start)), zap.NamedError("http_err", herr), zap.NamedError("close_err", cerr))
	return errors.Join(herr, cerr)
}

// registerRuntimeCollectors adds the Go runtime and process collectors.
func registerRuntimeCollectors(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register runtime collectors: %w", err)
		}
	}
	return nil
}

// watchSignals turns the first signal on sigs into cancel (graceful
// shutdown) and a second one into exit(1) (immediate). It returns when
// done is closed.
func watchSignals(done <-chan struct{}, sigs <-chan os.Signal, cancel func(), exit func(code int)) {
	select {
	case <-sigs:
		cancel()
	case <-done:
		return
	}
	select {
	case <-sigs:
		exit(1)
	case <-done:
	}
}

// pipelineMaxFuture maps --ingest.max-future (0: no bound) to
// pipeline.Options.MaxFuture (0: the default; negative: no bound).
func pipelineMaxFuture(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
