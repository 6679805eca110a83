package httpfast

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// The query API (docs/API.md "Query API") answers with Prometheus 3.16's
// JSON envelope, error types and status codes, so Grafana, promtool and
// client_golang's API client work unchanged:
//
//	{"status":"success","data":...,"warnings":[...],"infos":[...]}
//	{"status":"error","errorType":"bad_data","error":"..."}
//
// Handlers are apiFuncs: they parse parameters, read through the
// QueryBackend and return an apiResult that apiHandler writes.

// Error types of the envelope and the HTTP status each is answered with
// (Prometheus's mapping; "canceled" is nginx's 499 client closed request).
const (
	errorBadData       = "bad_data"
	errorExec          = "execution"
	errorTimeout       = "timeout"
	errorCanceled      = "canceled"
	errorInternal      = "internal"
	errorUnavailable   = "unavailable"
	errorNotFound      = "not_found"
	errorNotAcceptable = "not_acceptable"
)

const statusClientClosedConnection = 499

func apiErrorStatus(typ string) int {
	switch typ {
	case errorBadData:
		return fasthttp.StatusBadRequest
	case errorExec:
		return fasthttp.StatusUnprocessableEntity
	case errorCanceled:
		return statusClientClosedConnection
	case errorTimeout:
		return fasthttp.StatusServiceUnavailable
	case errorNotFound:
		return fasthttp.StatusNotFound
	case errorNotAcceptable:
		return fasthttp.StatusNotAcceptable
	default: // internal, unavailable
		return fasthttp.StatusInternalServerError
	}
}

// apiError is a failed API call: its envelope errorType and message.
type apiError struct {
	typ string
	err error
	// status overrides apiErrorStatus when non-zero (503 while the
	// database is not open).
	status int
}

func (e *apiError) Error() string { return e.typ + ": " + e.err.Error() }

func badData(err error) *apiError { return &apiError{typ: errorBadData, err: err} }

// invalidParam is Prometheus's wording for a parameter that does not parse.
func invalidParam(err error, name string) *apiError {
	return badData(fmt.Errorf("invalid parameter %q: %w", name, err))
}

// apiResult is what an API handler returns: data (nil: 204 No Content)
// or an error, plus annotations.
type apiResult struct {
	data     any
	err      *apiError
	warnings []string
	infos    []string
}

// jsonAppender is data that writes its own JSON (results that are large
// or whose float formatting must be Prometheus's).
type jsonAppender interface {
	AppendJSON(dst []byte) []byte
}

// rawJSON is data already encoded.
type rawJSON []byte

func (r rawJSON) AppendJSON(dst []byte) []byte { return append(dst, r...) }

type apiFunc func(ctx *fasthttp.RequestCtx, qb *QueryBackend) apiResult

// QueryBackend is what the query API reads: the database (series, labels,
// remote read, export, admin) and the PromQL engine (query, query_range).
type QueryBackend struct {
	DB *pipeline.DB
	// Engine evaluates PromQL; nil: /api/v1/query and query_range answer
	// "unavailable".
	Engine Engine
	// Status is what the status endpoints report about the process.
	Status StatusInfo
}

// SetQueryBackend makes the query API answer from qb; until it is called
// query endpoints answer 503 (the database is still replaying its WAL).
func (s *Server) SetQueryBackend(qb *QueryBackend) { s.query.Store(qb) }

// apiHandler turns an apiFunc into a route handler that writes the
// envelope.
func (s *Server) apiHandler(f apiFunc) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		setCORS(ctx)
		qb := s.query.Load()
		if qb == nil {
			writeAPIError(ctx, &apiError{typ: errorUnavailable, status: fasthttp.StatusServiceUnavailable,
				err: errors.New("not ready: the database is replaying its write-ahead log; retry later")})
			return
		}
		res := f(ctx, qb)
		if res.err != nil {
			if res.err.typ == errorInternal {
				// Storage failures may name files: logged in full, answered
				// without detail (as every other endpoint does).
				s.log.Error("query API: internal error", zap.ByteString("path", ctx.Path()), zap.Error(res.err.err))
				res.err = &apiError{typ: errorInternal, err: errors.New("internal storage error; see the server log")}
			}
			writeAPIError(ctx, res.err)
			return
		}
		if res.data == nil {
			ctx.SetStatusCode(fasthttp.StatusNoContent)
			return
		}
		writeAPISuccess(ctx, res)
	}
}

// setCORS answers cross-origin browser requests as Prometheus does with
// its default --web.cors.origin (any origin).
func setCORS(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Add("Vary", "Origin")
	if len(ctx.Request.Header.Peek("Origin")) == 0 {
		return
	}
	h.Set("Access-Control-Allow-Headers", "Accept, Authorization, Content-Type, Origin")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Expose-Headers", "Date")
	h.Set("Access-Control-Allow-Origin", "*")
}

// apiOptions answers OPTIONS on any /api/v1/ path (CORS preflight): 204.
func apiOptions(ctx *fasthttp.RequestCtx) {
	setCORS(ctx)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// answerBufs recycles answer buffers: SetBody copies, so the buffer is
// free again once the handler set it (encoding allocates nothing per
// sample in steady state).
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func writeAPISuccess(ctx *fasthttp.RequestCtx, res apiResult) {
	bp := answerBufs.Get().(*[]byte)
	b := (*bp)[:0]
	defer func() {
		if cap(b) <= 16<<20 { // do not keep huge answers' buffers
			*bp = b[:0]
			answerBufs.Put(bp)
		}
	}()
	b = append(b, `{"status":"success","data":`...)
	switch d := res.data.(type) {
	case jsonAppender:
		b = d.AppendJSON(b)
	default:
		enc, err := json.Marshal(d)
		if err != nil {
			writeAPIError(ctx, &apiError{typ: errorInternal, err: fmt.Errorf("encode response: %w", err)})
			return
		}
		b = append(b, enc...)
	}
	b = appendStringList(b, "warnings", res.warnings)
	b = appendStringList(b, "infos", res.infos)
	b = append(b, '}')
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func appendStringList(b []byte, key string, vs []string) []byte {
	if len(vs) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":[`...)
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONQuoted(b, v)
	}
	return append(b, ']')
}

func writeAPIError(ctx *fasthttp.RequestCtx, e *apiError) {
	b := make([]byte, 0, 128)
	b = append(b, `{"status":"error","errorType":`...)
	b = appendJSONQuoted(b, e.typ)
	b = append(b, `,"error":`...)
	b = appendJSONQuoted(b, e.err.Error())
	b = append(b, '}')
	code := e.status
	if code == 0 {
		code = apiErrorStatus(e.typ)
	}
	ctx.SetStatusCode(code)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// formValue returns a form parameter the way Go's Request.FormValue does:
// a form-encoded POST body's value first, then the URL query's.
func formValue(ctx *fasthttp.RequestCtx, name string) string {
	if a := bodyArgs(ctx); a != nil {
		if v := a.Peek(name); v != nil {
			return string(v)
		}
	}
	return string(ctx.QueryArgs().Peek(name))
}

// bodyArgs returns the form-encoded body's arguments of a POST, PUT or
// PATCH (the methods Go's ParseForm reads a body for), or nil.
func bodyArgs(ctx *fasthttp.RequestCtx) *fasthttp.Args {
	if ctx.IsPost() {
		return ctx.PostArgs()
	}
	if !ctx.IsPut() && !ctx.IsPatch() {
		return nil
	}
	if a, ok := ctx.UserValue(bodyArgsKey{}).(*fasthttp.Args); ok {
		return a
	}
	if !bytes.HasPrefix(ctx.Request.Header.ContentType(), []byte("application/x-www-form-urlencoded")) {
		return nil
	}
	a := &fasthttp.Args{}
	a.ParseBytes(ctx.PostBody())
	ctx.SetUserValue(bodyArgsKey{}, a)
	return a
}

type bodyArgsKey struct{}

// formValues returns every value of a repeated parameter (match[]): the
// body's, then the URL query's.
func formValues(ctx *fasthttp.RequestCtx, name string) []string {
	var out []string
	if a := bodyArgs(ctx); a != nil {
		for _, v := range a.PeekMulti(name) {
			out = append(out, string(v))
		}
	}
	for _, v := range ctx.QueryArgs().PeekMulti(name) {
		out = append(out, string(v))
	}
	return out
}

// Bounds of optional time ranges, as Prometheus has them (not quite
// MinInt64/MaxInt64 ms: Go's time formatting needs 4-digit years).
var (
	minTime          = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime          = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()
	minTimeFormatted = minTime.Format(time.RFC3339Nano)
	maxTimeFormatted = maxTime.Format(time.RFC3339Nano)
)

// parseTime parses unix seconds (with a fraction, rounded to ms) or RFC
// 3339.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(t)
		frac = math.Round(frac*1000) / 1000
		return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	switch s {
	case minTimeFormatted:
		return minTime, nil
	case maxTimeFormatted:
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseTimeParam is parseTime of an optional parameter.
func parseTimeParam(ctx *fasthttp.RequestCtx, name string, def time.Time) (time.Time, error) {
	v := formValue(ctx, name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time value for '%s': %w", name, err)
	}
	return t, nil
}

// parseDuration parses float seconds or a Prometheus duration (1m30s).
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if math.IsNaN(ts) || ts >= float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

// parseLimit parses the limit parameter; 0 means none.
func parseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, errors.New("limit must be non-negative")
	}
	return n, nil
}

// promParser parses selectors and expressions with Prometheus's default
// options (the ones the engine uses).
var promParser = parser.NewParser(parser.Options{})

// parseMatchers parses match[] values; each set must have a matcher that
// does not match the empty string.
func parseMatchers(ss []string) ([][]*labels.Matcher, error) {
	sets, err := promParser.ParseMetricSelectors(ss)
	if err != nil {
		return nil, err
	}
outer:
	for _, ms := range sets {
		for _, m := range ms {
			if m != nil && !m.Matches("") {
				continue outer
			}
		}
		return nil, errors.New("match[] must contain at least one non-empty matcher")
	}
	return sets, nil
}

// toMillis converts to ms the way Prometheus's timestamp.FromTime does.
func toMillis(t time.Time) int64 {
	return t.Unix()*1000 + int64(t.Nanosecond())/int64(time.Millisecond)
}

// storageError maps an error reading the database to an API error.
func storageError(err error) *apiError {
	switch {
	case errors.Is(err, context.Canceled):
		return &apiError{typ: errorCanceled, err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{typ: errorTimeout, err: err}
	case errors.Is(err, pipeline.ErrClosed):
		return &apiError{typ: errorUnavailable, status: fasthttp.StatusServiceUnavailable, err: err}
	}
	return &apiError{typ: errorExec, err: err}
}

// requestContext returns a context for work on behalf of a request, ending
// with the server's shutdown or after the timeout (0: none). fasthttp's
// RequestCtx is not used as a context: it is recycled after the handler
// returns while goroutines (shards) may still watch it.
func requestContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeout(context.Background(), timeout)
	}
	return context.WithCancel(context.Background())
}
