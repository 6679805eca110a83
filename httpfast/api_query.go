package httpfast

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/silverback-tsdb/tsdb/queryexec"
)

// Engine evaluates PromQL for /api/v1/query and /api/v1/query_range.
// *queryexec.Engine implements it; tests use fakes. Implementations must
// be safe for concurrent use and honour ctx; failures are
// *queryexec.Error with the envelope's errorType as Kind.
type Engine interface {
	Instant(ctx context.Context, q string, ts time.Time, o EngineOpts) (*EngineResult, error)
	Range(ctx context.Context, q string, start, end time.Time, step time.Duration, o EngineOpts) (*EngineResult, error)
}

// The engine's types (package queryexec's contract), under the names the
// API code uses.
type (
	EngineOpts   = queryexec.QueryOpts
	EngineResult = queryexec.Result
	EngineStats  = queryexec.Stats
	EngineError  = queryexec.Error
	Point        = queryexec.FPoint
	VectorSample = queryexec.Sample
	MatrixSeries = queryexec.Series
)

// maxPointsPerSeries is Prometheus's bound on range-query resolution.
const maxPointsPerSeries = 11000

func queryEngine(qb *QueryBackend) (Engine, *apiError) {
	if qb.Engine == nil {
		return nil, &apiError{typ: errorUnavailable, status: fasthttp.StatusServiceUnavailable, err: errors.New("the PromQL engine is not available")}
	}
	return qb.Engine, nil
}

// queryTimeout parses the timeout parameter (0: none).
func queryTimeout(ctx *fasthttp.RequestCtx) (time.Duration, *apiError) {
	v := formValue(ctx, "timeout")
	if v == "" {
		return 0, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return 0, invalidParam(err, "timeout")
	}
	if d <= 0 {
		return 0, badData(fmt.Errorf("invalid parameter %q: timeout must be positive, got %s", "timeout", d))
	}
	return d, nil
}

func queryOpts(ctx *fasthttp.RequestCtx) (EngineOpts, *apiError) {
	var o EngineOpts
	if v := formValue(ctx, "lookback_delta"); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return o, badData(fmt.Errorf("error parsing lookback delta duration: %w", err))
		}
		o.LookbackDelta = d
	}
	o.Stats = formValue(ctx, "stats") != ""
	// nocache=1 bypasses the range query result cache (as VictoriaMetrics's).
	o.NoCache = formValue(ctx, "nocache") == "1"
	return o, nil
}

// engineError maps an engine failure to the envelope; a bad_data failure
// is the query parameter's, as Prometheus words it.
func engineError(err error) *apiError {
	var ee *EngineError
	if errors.As(err, &ee) {
		switch k := string(ee.Kind); k {
		case errorBadData:
			return invalidParam(ee.Err, "query")
		case errorTimeout, errorCanceled, errorInternal, errorExec:
			return &apiError{typ: k, err: ee.Err}
		}
		return &apiError{typ: errorExec, err: ee.Err}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{typ: errorTimeout, err: err}
	case errors.Is(err, context.Canceled):
		return &apiError{typ: errorCanceled, err: err}
	}
	return &apiError{typ: errorExec, err: err}
}

// statsWarning is Prometheus's deprecation warning for stats values other
// than true and all.
func statsWarning(v string) []string {
	switch v {
	case "", "true", "all":
		return nil
	}
	return []string{fmt.Sprintf("value %q for parameter \"stats\" is deprecated and will be rejected in the next major release, use %q or %q", v, "true", "all")}
}

// apiQuery answers /api/v1/query.
func (s *Server) apiQuery(ctx *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	limit, err := parseLimit(formValue(ctx, "limit"))
	if err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	ts, err := parseTimeParam(ctx, "time", s.opts.now())
	if err != nil {
		return apiResult{err: invalidParam(err, "time")}
	}
	return runQuery(ctx, qb, limit, func(rctx context.Context, eng Engine, opts EngineOpts) (*EngineResult, error) {
		return eng.Instant(rctx, formValue(ctx, "query"), ts, opts)
	})
}

// apiQueryRange answers /api/v1/query_range.
func (s *Server) apiQueryRange(ctx *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	limit, err := parseLimit(formValue(ctx, "limit"))
	if err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	start, err := parseTime(formValue(ctx, "start"))
	if err != nil {
		return apiResult{err: invalidParam(err, "start")}
	}
	end, err := parseTime(formValue(ctx, "end"))
	if err != nil {
		return apiResult{err: invalidParam(err, "end")}
	}
	if end.Before(start) {
		return apiResult{err: invalidParam(errors.New("end timestamp must not be before start time"), "end")}
	}
	step, err := parseDuration(formValue(ctx, "step"))
	if err != nil {
		return apiResult{err: invalidParam(err, "step")}
	}
	if step <= 0 {
		return apiResult{err: invalidParam(errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"), "step")}
	}
	if end.Sub(start)/step > maxPointsPerSeries {
		return apiResult{err: badData(errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"))}
	}
	return runQuery(ctx, qb, limit, func(rctx context.Context, eng Engine, opts EngineOpts) (*EngineResult, error) {
		return eng.Range(rctx, formValue(ctx, "query"), start, end, step, opts)
	})
}

// runQuery reads the parameters both query endpoints share (timeout,
// lookback_delta, stats), after each endpoint's own, and runs eval under the
// request's context.
func runQuery(ctx *fasthttp.RequestCtx, qb *QueryBackend, limit int, eval func(context.Context, Engine, EngineOpts) (*EngineResult, error)) apiResult {
	timeout, e := queryTimeout(ctx)
	if e != nil {
		return apiResult{err: e}
	}
	opts, e := queryOpts(ctx)
	if e != nil {
		return apiResult{err: e}
	}
	eng, e := queryEngine(qb)
	if e != nil {
		return apiResult{err: e}
	}
	rctx, cancel := requestContext(timeout)
	defer cancel()
	res, err := eval(rctx, eng, opts)
	if err != nil {
		return apiResult{err: engineError(err)}
	}
	return queryResult(res, limit, formValue(ctx, "stats"))
}

func queryResult(res *EngineResult, limit int, stats string) apiResult {
	warnings := res.Warnings
	if limit > 0 {
		switch {
		case res.Type == "vector" && len(res.Vector) > limit:
			res.Vector = res.Vector[:limit]
			warnings = append(warnings, truncatedWarning)
		case res.Type == "matrix" && len(res.Matrix) > limit:
			res.Matrix = res.Matrix[:limit]
			warnings = append(warnings, truncatedWarning)
		}
	}
	warnings = append(warnings, statsWarning(stats)...)
	if stats == "" {
		res.Stats = nil
	}
	return apiResult{data: queryData{res}, warnings: warnings, infos: res.Infos}
}

// queryData writes {"resultType":...,"result":...[,"stats":...]}.
type queryData struct{ r *EngineResult }

func (d queryData) AppendJSON(b []byte) []byte {
	r := d.r
	b = append(b, `{"resultType":`...)
	b = appendJSONQuoted(b, string(r.Type))
	b = append(b, `,"result":`...)
	switch r.Type {
	case "scalar":
		// Prometheus encodes scalars and strings with encoding/json, not
		// its sample codec: the timestamp is a float64 of seconds
		// (1.5, not 1.500) and the value always in 'f' format.
		b = append(b, '[')
		b = appendJSONNumber(b, float64(r.Scalar.T)/1000)
		b = append(b, ',', '"')
		b = strconv.AppendFloat(b, r.Scalar.F, 'f', -1, 64)
		b = append(b, '"', ']')
	case "string":
		b = append(b, '[')
		b = appendJSONNumber(b, float64(r.Scalar.T)/1000)
		b = append(b, ',')
		b = appendJSONQuoted(b, r.String)
		b = append(b, ']')
	case "vector":
		b = append(b, '[')
		for i, s := range r.Vector {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"metric":`...)
			b = appendLabels(b, s.Metric)
			b = append(b, `,"value":`...)
			b = appendPoint(b, s.T, s.F)
			b = append(b, '}')
		}
		b = append(b, ']')
	default: // matrix
		b = append(b, '[')
		for i, s := range r.Matrix {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"metric":`...)
			b = appendLabels(b, s.Metric)
			b = append(b, `,"values":[`...)
			for j, p := range s.Floats {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendPoint(b, p.T, p.F)
			}
			b = append(b, "]}"...)
		}
		b = append(b, ']')
	}
	if st := r.Stats; st != nil {
		// Prometheus's stats.QueryStats: timings in seconds, samples.
		b = append(b, `,"stats":{"timings":{"evalTotalTime":`...)
		b = appendFloat(b, st.Eval.Seconds())
		b = append(b, `,"resultSortTime":0,"queryPreparationTime":0,"innerEvalTime":`...)
		b = appendFloat(b, st.Eval.Seconds())
		b = append(b, `,"execQueueTime":0,"execTotalTime":`...)
		b = appendFloat(b, st.ExecTotal.Seconds())
		b = append(b, `},"samples":{"totalQueryableSamples":`...)
		b = appendInt(b, st.TotalQueryableSamples)
		// samplesRead: the engine counts the samples it loads once.
		b = append(b, `,"samplesRead":`...)
		b = appendInt(b, st.TotalQueryableSamples)
		b = append(b, `,"peakSamples":`...)
		b = appendInt(b, st.PeakSamples)
		b = append(b, "}}"...)
	}
	return append(b, '}')
}
