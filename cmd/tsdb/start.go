package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// startOptions configure runStart (the flags of `tsdb start`).
type startOptions struct {
	Listen         string
	DataDir        string
	Retention      time.Duration // 0: keep forever
	RetentionBytes int64         // 0: no size bound
	Shards         int           // 0: as recorded, or GOMAXPROCS for a new directory
	WALSync        walseg.SyncMode
	// ShutdownTimeout bounds how long in-flight HTTP requests may take to
	// finish at shutdown before their connections are closed; the
	// database drain that follows is not bounded (it must finish).
	ShutdownTimeout time.Duration
	Logger          *zap.Logger

	// ready, when set, is called once the database is open and the server
	// answers /-/ready with 200, with the bound address (tests listen on
	// port 0) and the database (tests append through it).
	ready func(addr net.Addr, db *pipeline.DB)
}

// defaultShutdownTimeout: long enough for a /metrics scrape or a pprof
// profile of a few seconds, short enough that a stuck client cannot hold a
// shutdown for minutes.
const defaultShutdownTimeout = 10 * time.Second

// runStart listens on o.Listen, opens the database in o.DataDir and serves
// the operational endpoints until ctx ends:
//
//	/metrics         client_golang registry: the DB's tsdb_* collectors, Go and process collectors
//	/-/healthy       200 while the process serves
//	/-/ready         200 once the database is open, 503 while it opens and from the start of shutdown
//	/debug/pprof/*   net/http/pprof
//
// The listener is bound before the (possibly long) WAL replay, so a port
// conflict fails at once and /-/healthy answers during replay. When ctx
// ends, /-/ready turns 503, the HTTP server shuts down (in-flight requests
// get ShutdownTimeout), then the database is closed, which drains the
// shards and fsyncs every WAL. It returns nil after a clean shutdown, or
// the first error of listening, opening, serving or closing.
func runStart(ctx context.Context, o startOptions) error {
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
	reg := prometheus.NewRegistry()
	if err := registerRuntimeCollectors(reg); err != nil {
		return errors.Join(err, ln.Close())
	}
	var ready atomic.Bool
	srv := &http.Server{
		Handler:           newMux(reg, &ready),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// From here on every return path shuts the server down and receives
	// from served, so the Serve goroutine is always waited for.
	stopHTTP := func() error {
		ready.Store(false)
		sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
		defer cancel()
		err := srv.Shutdown(sctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = errors.Join(fmt.Errorf("http shutdown: %w", err), srv.Close())
		} else if err != nil {
			err = fmt.Errorf("http shutdown: %w", err)
		}
		if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, fmt.Errorf("http serve: %w", serr))
		}
		return err
	}
	log.Info("listening", zap.String("addr", ln.Addr().String()),
		zap.String("endpoints", "/metrics /-/healthy /-/ready /debug/pprof/"),
		zap.String("note", "operational endpoints only: the ingest and PromQL HTTP API (fasthttp) is not built yet"))

	db, err := pipeline.Open(o.DataDir, pipeline.Options{
		Shards:         o.Shards,
		WAL:            walseg.Options{Sync: o.WALSync},
		Retention:      o.Retention,
		RetentionBytes: o.RetentionBytes,
		Logger:         log,
		Registerer:     reg,
	})
	if err != nil {
		return errors.Join(fmt.Errorf("open database: %w", err), stopHTTP())
	}
	ready.Store(true)
	log.Info("ready", zap.String("data_dir", o.DataDir), zap.Int("shards", db.NumShards()),
		zap.Stringer("wal_sync", o.WALSync), zap.String("retention", formatDuration(o.Retention.Milliseconds())), zap.Int64("retention_bytes", o.RetentionBytes))
	if o.ready != nil {
		o.ready(ln.Addr(), db)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: stopping http, then draining and syncing the database")
	case serveErr = <-served:
		// Serve returned on its own (the listener failed): put the value
		// back for stopHTTP, which always receives one.
		served <- serveErr
		log.Error("http server stopped; shutting down", zap.Error(serveErr))
	}
	start := time.Now()
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

// newMux routes the operational endpoints. pprof handlers are registered
// explicitly so nothing depends on http.DefaultServeMux.
func newMux(reg *prometheus.Registry, ready *atomic.Bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Silverback is healthy.")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "Silverback is not ready (opening or shutting down).", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Silverback is ready.")
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
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
