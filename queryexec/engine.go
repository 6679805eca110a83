package queryexec

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// Defaults of Options.
const (
	DefaultMaxSamples    = 50_000_000
	DefaultTimeout       = 2 * time.Minute
	DefaultMaxConcurrent = 20
	DefaultLookbackDelta = 5 * time.Minute
	// DefaultMaxQueued bounds the queries waiting for a slot, per allowed
	// concurrent query; past it a query fails at once instead of queueing.
	DefaultMaxQueued = 4
)

// Options configure an Engine. The zero value takes every default.
type Options struct {
	MaxSamples    int           // samples held at once by one query (default 50,000,000)
	Timeout       time.Duration // per query (default 2m)
	MaxConcurrent int           // queries evaluating at once (default 20); others queue, bounded
	LookbackDelta time.Duration // default 5m
	Logger        *zap.Logger
	Registerer    prometheus.Registerer // may be nil
	// MaxQueued bounds waiting queries (default MaxConcurrent*DefaultMaxQueued).
	MaxQueued int
	// EnableExperimentalFunctions makes the parser accept the functions a
	// server enables only with --enable-feature=promql-experimental-functions.
	EnableExperimentalFunctions bool
	// EnableDelayedNameRemoval removes __name__ at the end of evaluation
	// instead of at each function (--enable-feature=promql-delayed-name-removal).
	EnableDelayedNameRemoval bool
	// EnableBinopFillModifiers and EnableUnquotedUTF8Names are the parser
	// options of the same names (off in a default server).
	EnableBinopFillModifiers bool
	EnableUnquotedUTF8Names  bool
	// Parallelism bounds the extra goroutines all queries together use to
	// evaluate range functions over many series (default GOMAXPROCS/2, at
	// least 1), so heavy queries leave cores to ingest.
	Parallelism int
	// NoStepSubqueryInterval is the step of a subquery written without one
	// (default 1m, a server's default evaluation interval).
	NoStepSubqueryInterval time.Duration
	// CacheBytes bounds the range query result cache (resultcache.go):
	// 0 takes DefaultCacheBytes, a negative value turns the cache off.
	CacheBytes int64
}

// QueryOpts are per-query options.
type QueryOpts struct {
	LookbackDelta time.Duration // 0: the engine's
	Stats         bool          // a query with statistics bypasses the result cache
	// NoCache evaluates a range query in full, neither reading nor filling
	// the result cache (the API's nocache=1).
	NoCache bool
}

// ValueType is the type of a Result.
type ValueType string

// Result types.
const (
	ValueScalar ValueType = "scalar"
	ValueString ValueType = "string"
	ValueVector ValueType = "vector"
	ValueMatrix ValueType = "matrix"
)

// FPoint is one float point; T in ms.
type FPoint struct {
	T int64
	F float64
}

// Sample is one element of an instant vector.
type Sample struct {
	Metric labels.Labels
	T      int64
	F      float64
}

// Series is one element of a range vector (matrix).
type Series struct {
	Metric labels.Labels
	Floats []FPoint
}

// Result is a query's value with its annotations.
type Result struct {
	Type     ValueType
	Scalar   FPoint
	String   string // with Scalar.T for the timestamp
	Vector   []Sample
	Matrix   []Series
	Warnings []string
	Infos    []string
	Stats    *Stats // nil unless QueryOpts.Stats
}

// Stats are a query's statistics.
type Stats struct {
	TotalQueryableSamples, PeakSamples int64
	ExecTotal, Eval                    time.Duration
}

// ErrorKind classifies an Error the way the Prometheus API does.
type ErrorKind string

// Error kinds.
const (
	KindBadData   ErrorKind = "bad_data"
	KindExecution ErrorKind = "execution"
	KindTimeout   ErrorKind = "timeout"
	KindCanceled  ErrorKind = "canceled"
	KindInternal  ErrorKind = "internal"
)

// Error is every error the engine returns.
type Error struct {
	Kind ErrorKind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrTooManySamples is the execution error of a query over its sample limit.
var ErrTooManySamples = errors.New("query processing would load too many samples into memory in query execution")

// ErrQueueFull is returned when MaxConcurrent queries run and MaxQueued wait.
var ErrQueueFull = errors.New("too many queries waiting for execution")

// Engine evaluates PromQL over a pipeline.DB. Safe for concurrent use.
type Engine struct {
	db     *pipeline.DB
	o      Options
	parser parser.Parser
	slots  chan struct{} // one token per running query
	pool   chan struct{} // one token per extra evaluation goroutine
	queue  chan struct{} // one token per waiting query
	m      *metrics
	cache  *resultCache // nil when off
}

// NewEngine returns an engine over db.
func NewEngine(db *pipeline.DB, o Options) *Engine {
	if o.MaxSamples <= 0 {
		o.MaxSamples = DefaultMaxSamples
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.LookbackDelta <= 0 {
		o.LookbackDelta = DefaultLookbackDelta
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = o.MaxConcurrent * DefaultMaxQueued
	}
	if o.Parallelism <= 0 {
		o.Parallelism = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if o.NoStepSubqueryInterval <= 0 {
		o.NoStepSubqueryInterval = time.Minute
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	var cache *resultCache
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.CacheBytes > 0 && db != nil {
		cache = newResultCache(db.Changes(), o.CacheBytes, o.Logger, o.Registerer)
	}
	return &Engine{
		cache: cache,
		db:    db,
		o:     o,
		parser: parser.NewParser(parser.Options{
			EnableExperimentalFunctions: o.EnableExperimentalFunctions,
			EnableBinopFillModifiers:    o.EnableBinopFillModifiers,
			EnableUnquotedUTF8Names:     o.EnableUnquotedUTF8Names,
		}),
		slots: make(chan struct{}, o.MaxConcurrent),
		pool:  make(chan struct{}, o.Parallelism),
		queue: make(chan struct{}, o.MaxQueued),
		m:     newMetrics(o.Registerer),
	}
}

// Instant evaluates q at ts.
func (e *Engine) Instant(ctx context.Context, q string, ts time.Time, o QueryOpts) (*Result, error) {
	t := ts.UnixMilli()
	if e.cache != nil && !o.NoCache && !o.Stats {
		return e.instantCached(ctx, q, t, o)
	}
	return e.exec(ctx, q, t, t, 0, o)
}

// Range evaluates q at every step from start to end.
func (e *Engine) Range(ctx context.Context, q string, start, end time.Time, step time.Duration, o QueryOpts) (*Result, error) {
	if step <= 0 {
		return nil, &Error{Kind: KindBadData, Err: errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer")}
	}
	if end.Before(start) {
		return nil, &Error{Kind: KindBadData, Err: errors.New("end timestamp must not be before start time")}
	}
	if e.cache != nil && !o.NoCache && !o.Stats {
		return e.rangeCached(ctx, q, start.UnixMilli(), end.UnixMilli(), step.Milliseconds(), o)
	}
	return e.exec(ctx, q, start.UnixMilli(), end.UnixMilli(), step.Milliseconds(), o)
}

// Parse parses q with the server's parser options; errors are bad_data.
func (e *Engine) Parse(q string) (parser.Expr, error) {
	expr, err := e.parser.ParseExpr(q)
	if err != nil {
		return nil, &Error{Kind: KindBadData, Err: err}
	}
	return expr, nil
}

func (e *Engine) exec(ctx context.Context, q string, start, end, interval int64, o QueryOpts) (*Result, error) {
	began := time.Now()
	expr, err := e.Parse(q)
	if err != nil {
		return nil, err
	}
	if interval == 0 {
		if expr.Type() != parser.ValueTypeVector && expr.Type() != parser.ValueTypeScalar &&
			expr.Type() != parser.ValueTypeMatrix && expr.Type() != parser.ValueTypeString {
			return nil, &Error{Kind: KindBadData, Err: fmt.Errorf("unexpected expression type %q", expr.Type())}
		}
	} else if expr.Type() != parser.ValueTypeVector && expr.Type() != parser.ValueTypeScalar {
		return nil, &Error{Kind: KindBadData, Err: fmt.Errorf("invalid expression type %q for range query, must be Scalar or instant Vector", parser.DocumentedType(expr.Type()))}
	}
	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	if err := e.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-e.slots }()
	e.m.running.Inc()
	defer e.m.running.Dec()

	ev := newEvaluator(ctx, e.db, start, end, interval, e.lookback(o).Milliseconds(), e.o.MaxSamples)
	ev.delayedNameRemoval = e.o.EnableDelayedNameRemoval
	ev.noStepSubquery = e.o.NoStepSubqueryInterval.Milliseconds()
	ev.workers = e.pool
	defer ev.close()
	evalStart := time.Now()
	res, err := ev.runSafe(expr)
	e.m.queries.Inc()
	if err != nil {
		e.m.failed.Inc()
		return nil, classify(ctx, err)
	}
	if o.Stats {
		res.Stats = &Stats{
			TotalQueryableSamples: ev.totalSamples,
			PeakSamples:           ev.peakSamples,
			ExecTotal:             time.Since(began),
			Eval:                  time.Since(evalStart),
		}
	}
	e.m.duration.Observe(time.Since(began).Seconds())
	return res, nil
}

// lookback is the lookback delta of a query with options o: its own when
// set, else the engine's.
func (e *Engine) lookback(o QueryOpts) time.Duration {
	if o.LookbackDelta > 0 {
		return o.LookbackDelta
	}
	return e.o.LookbackDelta
}

// runSafe evaluates, turning a panic (a bug) into an internal error for
// this query instead of a crash of the server.
func (ev *evaluator) runSafe(expr parser.Expr) (res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, &Error{Kind: KindInternal, Err: fmt.Errorf("query evaluation panicked: %v", r)}
		}
	}()
	return ev.run(expr)
}

// acquire takes a running slot, waiting in the bounded queue when all are
// taken.
func (e *Engine) acquire(ctx context.Context) error {
	select {
	case e.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case e.queue <- struct{}{}:
	default:
		return &Error{Kind: KindExecution, Err: ErrQueueFull}
	}
	defer func() { <-e.queue }()
	select {
	case e.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return classify(ctx, ctx.Err())
	}
}

// classify wraps err in an Error of the right kind.
func classify(ctx context.Context, err error) error {
	var qe *Error
	if errors.As(err, &qe) {
		return qe
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Err: fmt.Errorf("query timed out in query execution: %w", err)}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: KindCanceled, Err: fmt.Errorf("query was canceled in query execution: %w", err)}
	case errors.Is(err, ErrTooManySamples):
		return &Error{Kind: KindExecution, Err: err}
	}
	var ee execError
	if errors.As(err, &ee) {
		return &Error{Kind: KindExecution, Err: err}
	}
	return &Error{Kind: KindInternal, Err: err}
}

// execError is an evaluation error of the query itself (bad operand
// shapes, duplicate series), as opposed to a storage failure.
type execError struct{ err error }

func (e execError) Error() string { return e.err.Error() }
func (e execError) Unwrap() error { return e.err }

func errorf(format string, args ...any) error { return execError{fmt.Errorf(format, args...)} }
