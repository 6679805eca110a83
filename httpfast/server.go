package httpfast

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"github.com/valyala/fasthttp/pprofhandler"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/stages"
)

// Storage is what the server writes into: *pipeline.DB implements it.
// Append must be safe for concurrent use and must not keep b after it
// returns; LookupHinted (the route cache, stages.Router.LookupHinted, with
// the request's hint) must be allocation-free: it runs per series.
type Storage interface {
	Append(ctx context.Context, b *stages.Batch) (stages.AppendStats, error)
	LookupHinted(key []byte, hint *stages.RouteHint) (stages.Route, bool)
}

// Options configure New. The zero value serves with the defaults of
// Limits, no authentication and no admin API.
type Options struct {
	// Logger receives lifecycle events and request failures that are not
	// the client's (storage errors). Default zap.NewNop().
	Logger *zap.Logger
	// Registerer receives the server's tsdb_http_* and tsdb_ingest_*
	// collectors; Gatherer is what /metrics serves. Either may be nil.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Limits bound requests (sizes, counts, concurrency, timeouts).
	Limits Limits
	// Web is the parsed --web.config.file (basic auth users, TLS); nil
	// serves plain HTTP without authentication.
	Web *WebConfig
	// EnableAdminAPI turns on routes registered with RouteOptions.Admin;
	// otherwise they answer 403 naming --web.enable-admin-api.
	EnableAdminAPI bool
	// PprofOnMain serves /debug/pprof/ on the main listener (cmd/tsdb sets
	// it unless --pprof-listen names a separate one).
	PprofOnMain bool
	// InfluxDBLabel, when set, adds the v1 "db" (v2 "bucket") parameter of
	// Influx writes as a label of this name.
	InfluxDBLabel string
	// Metadata keeps metric metadata (type, unit, help) seen at ingest, for
	// the metadata API. Default: a new store with DefaultMaxMetadata.
	Metadata *MetadataStore
	// DisableQueryAPI leaves the query, metadata, status, remote-read,
	// export and admin API unregistered (tests that serve a fake API on
	// those paths).
	DisableQueryAPI bool
	// now returns the receive time of a request (tests fix it).
	now func() time.Time
}

// Limits bound what one request and all requests together may cost. Zero
// fields take the defaults below.
type Limits struct {
	// MaxBodyBytes bounds the request body as sent (compressed); larger
	// bodies get 413 before they are read in full.
	MaxBodyBytes int
	// MaxDecodedBytes bounds a body after decompression (gzip, snappy);
	// larger ones get 413 (this is the gzip-bomb guard).
	MaxDecodedBytes int
	// MaxLinesPerRequest bounds the lines of line-protocol, text and CSV
	// bodies; MaxSeriesPerRequest the series of remote-write, JSON and OTLP
	// bodies. Over the bound the request gets 413 and nothing is stored.
	MaxLinesPerRequest  int
	MaxSeriesPerRequest int
	// MaxConcurrentIngest bounds ingest requests being parsed and appended
	// at once; a request that finds no slot within QueueTimeout gets 503
	// with Retry-After.
	MaxConcurrentIngest int
	QueueTimeout        time.Duration
	// MaxDecodeBytesInFlight bounds the bytes of decompressed bodies held
	// by all requests together; beyond it a request gets 503 with
	// Retry-After.
	MaxDecodeBytesInFlight int64
	// AppendTimeout bounds how long one request waits for full shard
	// inboxes (backpressure) before it gets 503 with Retry-After.
	AppendTimeout time.Duration
	// RetryAfter is the Retry-After value of 503 answers.
	RetryAfter time.Duration
	// ReadTimeout, WriteTimeout and IdleTimeout are the connection
	// timeouts (fasthttp's); MaxConnections bounds open connections.
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	MaxConnections int
}

// Defaults of Limits. The body bounds are those a Prometheus remote-write
// queue or a Telegraf batch never come near (both send well under 10 MiB);
// the concurrency bound keeps parsing to about the cores there are, since
// more parallel parsing only queues on the shards.
const (
	DefaultMaxBodyBytes           = 64 << 20
	DefaultMaxDecodedBytes        = 256 << 20
	DefaultMaxLinesPerRequest     = 2_000_000
	DefaultMaxSeriesPerRequest    = 2_000_000
	DefaultQueueTimeout           = 2 * time.Second
	DefaultMaxDecodeBytesInFlight = 1 << 30
	DefaultAppendTimeout          = 10 * time.Second
	DefaultRetryAfter             = 2 * time.Second
	DefaultReadTimeout            = 60 * time.Second
	DefaultWriteTimeout           = 60 * time.Second
	DefaultIdleTimeout            = 2 * time.Minute
	DefaultMaxConnections         = 4096
)

// WithDefaults returns l with zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxBodyBytes, DefaultMaxBodyBytes)
	def(&l.MaxDecodedBytes, DefaultMaxDecodedBytes)
	def(&l.MaxLinesPerRequest, DefaultMaxLinesPerRequest)
	def(&l.MaxSeriesPerRequest, DefaultMaxSeriesPerRequest)
	def(&l.MaxConcurrentIngest, 2*runtime.GOMAXPROCS(0))
	def(&l.MaxConnections, DefaultMaxConnections)
	if l.MaxDecodeBytesInFlight <= 0 {
		l.MaxDecodeBytesInFlight = DefaultMaxDecodeBytesInFlight
	}
	defd(&l.QueueTimeout, DefaultQueueTimeout)
	defd(&l.AppendTimeout, DefaultAppendTimeout)
	defd(&l.RetryAfter, DefaultRetryAfter)
	defd(&l.ReadTimeout, DefaultReadTimeout)
	defd(&l.WriteTimeout, DefaultWriteTimeout)
	defd(&l.IdleTimeout, DefaultIdleTimeout)
	return l
}

// Server is the HTTP server: a route table, the middlewares every route
// goes through (authentication, self-metrics, ingest limits) and the
// ingest handlers. Routes are registered before Serve; Serve, Shutdown and
// SetStorage are safe for concurrent use.
type Server struct {
	opts   Options
	lim    Limits
	log    *zap.Logger
	m      *metrics
	routes map[string]*route // by path; immutable once Serve runs
	srv    *fasthttp.Server
	auth   *authenticator // nil: no authentication

	store atomic.Pointer[storageBox]   // nil until SetStorage: ingest answers 503
	query atomic.Pointer[QueryBackend] // nil until SetQueryBackend: the query API answers 503
	// optionsHandler answers OPTIONS on /api/v1/ paths (CORS preflight).
	optionsHandler fasthttp.RequestHandler
	// readGate bounds concurrent remote reads (a token per read), as
	// Prometheus's --storage.remote.read-concurrent-limit does.
	readGate chan struct{}
	ready    atomic.Bool // /-/ready

	// ingestSlots bounds concurrent ingest requests (a token per slot);
	// decodeBudget the decompressed bytes held by all of them.
	ingestSlots  chan struct{}
	decodeBudget budget

	ingesters sync.Pool // *ingester

	life struct {
		sync.Mutex
		stopped bool           // Shutdown was called
		lns     []net.Listener // passed to Serve
	}

	// Per-protocol ingest counters, resolved once at New.
	pmInflux, pmRemote, pmRemoteV2, pmJSON, pmText, pmCSV, pmOTLP, pmSelf *protoMetrics
}

type storageBox struct{ s Storage }

// route is one path's handlers by method.
type route struct {
	methods  []string
	handlers []fasthttp.RequestHandler
}

// RouteOptions describe a route for Handle.
type RouteOptions struct {
	// Name is the handler label of the route's self-metrics (default: the
	// path).
	Name string
	// Public skips authentication (health and readiness probes).
	Public bool
	// Admin routes answer 403 unless Options.EnableAdminAPI.
	Admin bool
	// Ingest routes take an ingest slot, need the storage and answer 503
	// while it is not set.
	Ingest bool
}

// New returns a server with the ingest, health, metrics and (optionally)
// pprof routes registered. It starts nothing.
func New(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.Metadata == nil {
		o.Metadata = NewMetadataStore(DefaultMaxMetadata)
	}
	lim := o.Limits.WithDefaults()
	s := &Server{
		opts:        o,
		lim:         lim,
		log:         o.Logger.Named("http"),
		routes:      map[string]*route{},
		ingestSlots: make(chan struct{}, lim.MaxConcurrentIngest),
	}
	s.decodeBudget.limit = lim.MaxDecodeBytesInFlight
	s.m = newMetrics(s)
	if o.Registerer != nil {
		if err := o.Registerer.Register(s.m); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	if o.Web != nil && len(o.Web.BasicAuthUsers) > 0 {
		s.auth = newAuthenticator(o.Web.BasicAuthUsers)
	}
	s.ingesters.New = func() any { return newIngester(s) }
	s.registerRoutes()
	s.srv = &fasthttp.Server{
		Handler:            s.serveHTTP,
		Name:               "silverback",
		ReadTimeout:        lim.ReadTimeout,
		WriteTimeout:       lim.WriteTimeout,
		IdleTimeout:        lim.IdleTimeout,
		MaxRequestBodySize: lim.MaxBodyBytes,
		Concurrency:        lim.MaxConnections,
		// Bodies are read whole before the handler runs (parsers need the
		// complete body; remote write is one snappy block anyway).
		StreamRequestBody: false,
		// A request over MaxRequestBodySize never reaches a handler;
		// fasthttp's own error answer says so without any detail.
		ErrorHandler:          s.serveConnError,
		Logger:                zap.NewStdLog(s.log),
		CloseOnShutdown:       true,
		NoDefaultServerHeader: true,
	}
	return s, nil
}

// SetStorage makes ingest routes write into st (until then they answer 503
// with Retry-After) and marks the server ready.
func (s *Server) SetStorage(st Storage) {
	s.store.Store(&storageBox{st})
	s.ready.Store(true)
}

// SetReady sets what /-/ready answers (false from the start of shutdown).
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

// Metadata returns the metric metadata store the ingest paths fill.
func (s *Server) Metadata() *MetadataStore { return s.opts.Metadata }

// Handle registers h for method and path. Call it before Serve; a second
// registration of the same method and path is a programmer error.
func (s *Server) Handle(method, path string, h fasthttp.RequestHandler, o RouteOptions) {
	if o.Name == "" {
		o.Name = path
	}
	h = s.wrap(h, o)
	r := s.routes[path]
	if r == nil {
		r = &route{}
		s.routes[path] = r
	}
	for _, m := range r.methods {
		if m == method {
			panic("BUG: httpfast: route " + method + " " + path + " registered twice")
		}
	}
	r.methods = append(r.methods, method)
	r.handlers = append(r.handlers, h)
}

func (s *Server) registerRoutes() {
	s.Handle("GET", "/-/healthy", func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString("Silverback is healthy.\n")
	}, RouteOptions{Public: true})
	s.Handle("GET", "/-/ready", func(ctx *fasthttp.RequestCtx) {
		if !s.ready.Load() {
			ctx.Error("Silverback is not ready (replaying its WAL or shutting down).\n", fasthttp.StatusServiceUnavailable)
			return
		}
		// A storage that can fail (pipeline.DB: a shard whose WAL or head
		// chunk files failed refuses appends until a restart) is not ready.
		if b := s.store.Load(); b != nil {
			if f, ok := b.s.(interface{ Err() error }); ok {
				if err := f.Err(); err != nil {
					ctx.Error("Silverback is not ready: "+err.Error()+"\n", fasthttp.StatusServiceUnavailable)
					return
				}
			}
		}
		ctx.SetBodyString("Silverback is ready.\n")
	}, RouteOptions{Public: true})
	if s.opts.Gatherer != nil {
		h := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))
		s.Handle("GET", "/metrics", h, RouteOptions{})
	}
	if s.opts.PprofOnMain {
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/profile", "/debug/pprof/symbol",
			"/debug/pprof/trace", "/debug/pprof/heap", "/debug/pprof/goroutine", "/debug/pprof/allocs",
			"/debug/pprof/block", "/debug/pprof/mutex", "/debug/pprof/threadcreate"} {
			s.Handle("GET", p, pprofhandler.PprofHandler, RouteOptions{Name: "/debug/pprof/"})
		}
	}
	s.registerIngestRoutes()
	if !s.opts.DisableQueryAPI {
		s.registerAPIRoutes()
	}
}

// PprofHandler serves /debug/pprof/ for a separate --pprof-listen server.
func PprofHandler(ctx *fasthttp.RequestCtx) { pprofhandler.PprofHandler(ctx) }

// serveHTTP dispatches by path and method.
func (s *Server) serveHTTP(ctx *fasthttp.RequestCtx) {
	r := s.routes[string(ctx.Path())]
	if r == nil {
		r = s.paramRoute(ctx.Path())
	}
	if r == nil && !s.opts.DisableQueryAPI && string(ctx.Method()) == fasthttp.MethodOptions && bytes.HasPrefix(ctx.Path(), []byte("/api/v1/")) {
		s.options(ctx)
		return
	}
	if r == nil {
		s.m.notFound.Inc()
		ctx.Error("404 page not found\n", fasthttp.StatusNotFound)
		return
	}
	m := ctx.Method()
	for i, name := range r.methods {
		if string(m) == name {
			r.handlers[i](ctx)
			return
		}
	}
	if string(m) == fasthttp.MethodOptions && !s.opts.DisableQueryAPI && bytes.HasPrefix(ctx.Path(), []byte("/api/v1/")) {
		s.options(ctx)
		return
	}
	textError(ctx, "405 method not allowed\n", fasthttp.StatusMethodNotAllowed)
	ctx.Response.Header.Set("Allow", joinMethods(r.methods))
}

func joinMethods(ms []string) string {
	out := ""
	for i, m := range ms {
		if i > 0 {
			out += ", "
		}
		out += m
	}
	return out
}

// serveConnError answers requests fasthttp could not read (too large,
// timed out, malformed) with a short text that leaks nothing.
func (s *Server) serveConnError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		s.m.tooLarge.Inc()
		ctx.Error(fmt.Sprintf("request body larger than the limit of %d bytes (--ingest.max-body-size)\n", s.lim.MaxBodyBytes), fasthttp.StatusRequestEntityTooLarge)
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			ctx.Error("request timed out\n", fasthttp.StatusRequestTimeout)
			return
		}
		ctx.Error("malformed HTTP request\n", fasthttp.StatusBadRequest)
	}
}

// Serve serves on ln (wrapped in TLS when the web config has a
// certificate) until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if cfg := s.tlsConfig(); cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	s.life.Lock()
	if s.life.stopped {
		s.life.Unlock()
		return nil
	}
	s.life.lns = append(s.life.lns, ln)
	s.life.Unlock()
	if err := s.srv.Serve(ln); err != nil {
		s.life.Lock()
		stopped := s.life.stopped
		s.life.Unlock()
		if stopped {
			return nil // the listener was closed by Shutdown
		}
		return fmt.Errorf("http serve: %w", err)
	}
	return nil
}

func (s *Server) tlsConfig() *tls.Config {
	if s.opts.Web == nil {
		return nil
	}
	return s.opts.Web.TLS
}

// Shutdown stops accepting connections, marks the server not ready and
// waits for in-flight requests until ctx ends (then closes their
// connections).
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	s.life.Lock()
	s.life.stopped = true
	lns := s.life.lns
	s.life.Unlock()
	err := s.srv.ShutdownWithContext(ctx)
	// A Serve that had not reached fasthttp's accept loop when Shutdown ran
	// would serve on; closing its listener ends it.
	for _, ln := range lns {
		_ = ln.Close()
	}
	if err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// NewPprofServer returns a fasthttp server for /debug/pprof/ alone, for a
// separate --pprof-listen address (no authentication: bind it to a
// private address).
func NewPprofServer(lim Limits) *fasthttp.Server {
	lim = lim.WithDefaults()
	return &fasthttp.Server{
		Handler:               pprofhandler.PprofHandler,
		Name:                  "silverback-pprof",
		ReadTimeout:           lim.ReadTimeout,
		WriteTimeout:          0, // CPU profiles and traces take as long as asked
		IdleTimeout:           lim.IdleTimeout,
		NoDefaultServerHeader: true,
	}
}
