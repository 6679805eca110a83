package httpfast

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// fakeEngine records its calls and answers res or err.
type fakeEngine struct {
	mu         sync.Mutex
	q          string
	ts, start  time.Time
	end        time.Time
	step       time.Duration
	opts       EngineOpts
	deadline   bool
	res        *EngineResult
	err        error
	rangeCalls int
}

func (f *fakeEngine) Instant(ctx context.Context, q string, ts time.Time, o EngineOpts) (*EngineResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, f.deadline = ctx.Deadline()
	f.q, f.ts, f.opts = q, ts, o
	if f.err != nil {
		return nil, f.err
	}
	r := *f.res
	return &r, nil
}

func (f *fakeEngine) Range(ctx context.Context, q string, start, end time.Time, step time.Duration, o EngineOpts) (*EngineResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, f.deadline = ctx.Deadline()
	f.q, f.start, f.end, f.step, f.opts = q, start, end, step, o
	f.rangeCalls++
	if f.err != nil {
		return nil, f.err
	}
	r := *f.res
	return &r, nil
}

func newQueryTestServer(t *testing.T, eng *fakeEngine) *testServer {
	ts := newTestServer(t)
	ts.s.SetQueryBackend(&QueryBackend{DB: ts.db, Engine: eng})
	return ts
}

func TestAPI_QueryShapes(t *testing.T) {
	m := labels.FromStrings("__name__", "up", "job", "a<b")
	for _, c := range []struct {
		name string
		res  EngineResult
		want string
	}{
		{"scalar", EngineResult{Type: "scalar", Scalar: Point{T: 1700000000500, F: 1.5}},
			`{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"1.5"]}}`},
		{"string", EngineResult{Type: "string", Scalar: Point{T: 1700000000000}, String: `a "b"`},
			`{"status":"success","data":{"resultType":"string","result":[1700000000,"a \"b\""]}}`},
		{"vector", EngineResult{Type: "vector", Vector: []VectorSample{{Metric: m, T: 1700000000000, F: math.NaN()}, {Metric: labels.EmptyLabels(), T: 1700000000000, F: math.Inf(-1)}}},
			`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\u003cb"},"value":[1700000000,"NaN"]},{"metric":{},"value":[1700000000,"-Inf"]}]}}`},
		{"empty vector", EngineResult{Type: "vector"}, `{"status":"success","data":{"resultType":"vector","result":[]}}`},
		{"matrix with annotations", EngineResult{Type: "matrix", Matrix: []MatrixSeries{{Metric: m, Floats: []Point{{T: 1000, F: 1}, {T: 2000, F: 1e-9}}}},
			Warnings: []string{"PromQL warning: w"}, Infos: []string{"PromQL info: i"}},
			`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"a\u003cb"},"values":[[1,"1"],[2,"1e-09"]]}]},"warnings":["PromQL warning: w"],"infos":["PromQL info: i"]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			eng := &fakeEngine{res: &c.res}
			ts := newQueryTestServer(t, eng)
			r := ts.get("/api/v1/query", "query", "up", "time", "1700000000.5")
			require.Equal(t, 200, r.code, r.body)
			require.Equal(t, c.want, r.body)
			require.Equal(t, "up", eng.q)
			require.Equal(t, int64(1700000000500), eng.ts.UnixMilli())
		})
	}
}

func TestAPI_QueryParams(t *testing.T) {
	eng := &fakeEngine{res: &EngineResult{Type: "vector", Vector: []VectorSample{
		{Metric: labels.FromStrings("a", "1"), F: 1}, {Metric: labels.FromStrings("a", "2"), F: 2}}}}
	ts := newQueryTestServer(t, eng)

	// time defaults to now; timeout sets a deadline; lookback_delta and
	// stats reach the engine; POST form works.
	r := ts.postForm("/api/v1/query", "query", "x", "timeout", "5s", "lookback_delta", "1m", "limit", "1")
	require.Equal(t, 200, r.code, r.body)
	require.Equal(t, testNow, eng.ts)
	require.True(t, eng.deadline)
	require.Equal(t, EngineOpts{LookbackDelta: time.Minute}, eng.opts)
	require.Equal(t, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[0,"1"]}]},"warnings":["results truncated due to limit"]}`, r.body)

	eng.res.Stats = &EngineStats{TotalQueryableSamples: 7, PeakSamples: 3, ExecTotal: time.Millisecond, Eval: time.Millisecond}
	r = ts.get("/api/v1/query", "query", "x", "stats", "true", "time", "2023-11-14T22:13:20Z")
	require.Equal(t, 200, r.code, r.body)
	require.Equal(t, int64(1700000000000), eng.ts.UnixMilli())
	require.True(t, eng.opts.Stats)
	require.Contains(t, r.body, `"stats":{"timings":{"evalTotalTime":0.001,`)
	require.Contains(t, r.body, `"samples":{"totalQueryableSamples":7,"samplesRead":7,"peakSamples":3}}`)
	r = ts.get("/api/v1/query", "query", "x", "stats", "yes")
	require.Contains(t, r.body, `"warnings":["value \"yes\" for parameter \"stats\" is deprecated`)

	r = ts.get("/api/v1/query_range", "query", "y", "start", "1000", "end", "2000.5", "step", "15", "nocache", "1")
	require.Equal(t, 200, r.code, r.body)
	require.True(t, eng.opts.NoCache, "nocache=1 reaches the engine")
	r = ts.get("/api/v1/query_range", "query", "y", "start", "1000", "end", "2000.5", "step", "15")
	require.Equal(t, 200, r.code, r.body)
	require.False(t, eng.opts.NoCache)
	require.Equal(t, int64(1000000), eng.start.UnixMilli())
	require.Equal(t, int64(2000500), eng.end.UnixMilli())
	require.Equal(t, 15*time.Second, eng.step)
	r = ts.get("/api/v1/query_range", "query", "y", "start", "1000", "end", "2000", "step", "1m30s")
	require.Equal(t, 200, r.code, r.body)
	require.Equal(t, 90*time.Second, eng.step)
	calls := eng.rangeCalls

	for _, c := range []struct {
		path   string
		params []string
		want   string
	}{
		{"/api/v1/query", []string{"query", "x", "time", "abc"}, `invalid parameter \"time\": invalid time value for 'time': cannot parse \"abc\" to a valid timestamp`},
		{"/api/v1/query", []string{"query", "x", "timeout", "abc"}, `invalid parameter \"timeout\": cannot parse \"abc\" to a valid duration`},
		{"/api/v1/query", []string{"query", "x", "timeout", "-1"}, `invalid parameter \"timeout\": timeout must be positive, got -1s`},
		{"/api/v1/query", []string{"query", "x", "lookback_delta", "z"}, `error parsing lookback delta duration: cannot parse \"z\" to a valid duration`},
		{"/api/v1/query", []string{"query", "x", "limit", "a"}, `invalid parameter \"limit\": strconv.Atoi: parsing \"a\": invalid syntax`},
		{"/api/v1/query_range", []string{"query", "y", "end", "2", "step", "1"}, `invalid parameter \"start\": cannot parse \"\" to a valid timestamp`},
		{"/api/v1/query_range", []string{"query", "y", "start", "2", "step", "1"}, `invalid parameter \"end\": cannot parse \"\" to a valid timestamp`},
		{"/api/v1/query_range", []string{"query", "y", "start", "2", "end", "1", "step", "1"}, `invalid parameter \"end\": end timestamp must not be before start time`},
		{"/api/v1/query_range", []string{"query", "y", "start", "1", "end", "2"}, `invalid parameter \"step\": cannot parse \"\" to a valid duration`},
		{"/api/v1/query_range", []string{"query", "y", "start", "1", "end", "2", "step", "0"}, `invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer`},
		{"/api/v1/query_range", []string{"query", "y", "start", "0", "end", "11001", "step", "1"}, `exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)`},
		{"/api/v1/query_range", []string{"query", "y", "start", "0", "end", "1e400", "step", "1"}, `invalid parameter \"end\"`},
	} {
		r := ts.get(c.path, c.params...)
		require.Equal(t, 400, r.code, "%v: %s", c.params, r.body)
		require.Contains(t, r.body, `{"status":"error","errorType":"bad_data","error":"`+c.want, c.params)
	}
	// The 11,000 points bound itself is allowed.
	r = ts.get("/api/v1/query_range", "query", "y", "start", "0", "end", "11000", "step", "1")
	require.Equal(t, 200, r.code, r.body)
	require.Equal(t, calls+1, eng.rangeCalls, "no rejected request reached the engine")
}

func TestAPI_QueryErrors(t *testing.T) {
	for _, c := range []struct {
		err      error
		code     int
		typ, msg string
	}{
		{&EngineError{Kind: "bad_data", Err: errors.New("1:5: parse error: unexpected end of input")}, 400, "bad_data", `invalid parameter \"query\": 1:5: parse error: unexpected end of input`},
		{&EngineError{Kind: "execution", Err: errors.New("query processing would load too many samples into memory in query execution")}, 422, "execution", "query processing would load too many samples"},
		{&EngineError{Kind: "timeout", Err: errors.New("query timed out in expression evaluation")}, 503, "timeout", "query timed out"},
		{&EngineError{Kind: "canceled", Err: errors.New("query was canceled in expression evaluation")}, 499, "canceled", "query was canceled"},
		{&EngineError{Kind: "internal", Err: errors.New("open /data/shards/00/x: no such file")}, 500, "internal", "internal storage error; see the server log"},
		{context.DeadlineExceeded, 503, "timeout", "context deadline exceeded"},
		{errors.New("other"), 422, "execution", "other"},
	} {
		eng := &fakeEngine{err: c.err}
		ts := newQueryTestServer(t, eng)
		for _, path := range []string{"/api/v1/query?query=x", "/api/v1/query_range?query=x&start=1&end=2&step=1"} {
			r := ts.do("GET", path, nil)
			require.Equal(t, c.code, r.code, r.body)
			require.Contains(t, r.body, `{"status":"error","errorType":"`+c.typ+`","error":"`+c.msg, r.body)
		}
	}
	// No engine: unavailable.
	ts := newTestServer(t)
	ts.s.SetQueryBackend(&QueryBackend{DB: ts.db})
	r := ts.get("/api/v1/query", "query", "x")
	require.Equal(t, 503, r.code)
	require.Contains(t, r.body, `"errorType":"unavailable"`)
}
