package ui

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/valyala/fasthttp"

	"github.com/silverback-tsdb/tsdb/httpfast"
)

// fakeAPI answers the Prometheus HTTP API endpoints the UI calls, in the
// JSON shapes of Prometheus 3 (web/api/v1), from a fixed data set, so the
// browser tests do not depend on the query engine. Parse errors come from
// Prometheus's own PromQL parser, so their positions are real.
//
// Data: up{job="node",instance="a"|"b"|"c"} = 1, 2, 3 at every time;
// node_cpu_seconds_total{cpu="0"|"1"} = t/1000 (+100 for cpu 1);
// many (150 series, series i = i); warn_metric (one series, with a
// warning and an info).
type fakeAPI struct {
	series []map[string]string
}

func newFakeAPI() *fakeAPI {
	f := &fakeAPI{}
	for _, inst := range []string{"a", "b", "c"} {
		f.series = append(f.series, map[string]string{"__name__": "up", "job": "node", "instance": inst})
	}
	for _, cpu := range []string{"0", "1"} {
		f.series = append(f.series, map[string]string{"__name__": "node_cpu_seconds_total", "job": "node", "instance": "a", "cpu": cpu})
	}
	f.series = append(f.series, map[string]string{"__name__": "http_requests_total", "job": "api", "instance": "a", "code": "200"})
	return f
}

func (f *fakeAPI) register(s *httpfast.Server) {
	get := func(p string, h fasthttp.RequestHandler) { s.Handle("GET", "/api/v1/"+p, h, httpfast.RouteOptions{}) }
	get("query", f.query)
	get("query_range", f.queryRange)
	get("parse_query", f.parseQuery)
	get("labels", func(ctx *fasthttp.RequestCtx) {
		ms, err := f.match(ctx)
		if err != nil {
			apiErr(ctx, "bad_data", err.Error())
			return
		}
		set := map[string]bool{}
		for _, s := range ms {
			for k := range s {
				set[k] = true
			}
		}
		names := []string{}
		for k := range set {
			names = append(names, k)
		}
		slices.Sort(names)
		ok(ctx, names, nil, nil)
	})
	for _, n := range append(f.labelNames(), "nosuchlabel") {
		get("label/"+n+"/values", func(ctx *fasthttp.RequestCtx) { ok(ctx, f.values(n), nil, nil) })
	}
	get("series", f.seriesAPI)
	get("status/tsdb", f.tsdbStatus)
	get("status/tsdb/blocks", func(ctx *fasthttp.RequestCtx) {
		ok(ctx, map[string]any{"blocks": []map[string]any{
			{"ulid": "01JF0000000000000000000000", "minTime": 1764720000000, "maxTime": 1764727200000, "version": 1,
				"stats": map[string]any{"numSamples": 720000, "numSeries": 1000, "numChunks": 6000}, "compaction": map[string]any{"level": 1},
				"shard": 0, "sizeBytes": 1080000},
			{"ulid": "01JF0000000000000000000001", "minTime": 1764727200000, "maxTime": 1764734400000, "version": 1,
				"stats": map[string]any{"numSamples": 1440000, "numSeries": 1000, "numChunks": 12000}, "compaction": map[string]any{"level": 2},
				"shard": 1, "sizeBytes": 1728000},
		}, "dataDirBytes": 5 << 20}, nil, nil)
	})
	get("status/buildinfo", func(ctx *fasthttp.RequestCtx) {
		ok(ctx, map[string]string{"version": "0.1.0-test", "revision": "abc123", "branch": "main", "buildUser": "ci", "buildDate": "20261203-06:00:00", "goVersion": "go1.26.8"}, nil, nil)
	})
	get("status/runtimeinfo", func(ctx *fasthttp.RequestCtx) {
		ok(ctx, map[string]any{"startTime": "2026-12-03T06:00:00Z", "CWD": "/var/lib/silverback", "hostname": "testhost",
			"serverTime": "2026-12-03T07:00:00Z", "reloadConfigSuccess": true, "lastConfigTime": "2026-12-03T06:00:00Z",
			"corruptionCount": 0, "goroutineCount": 42, "GOMAXPROCS": 2, "GOMEMLIMIT": int64(math.MaxInt64), "GOGC": "", "GODEBUG": "",
			"storageRetention": "15d"}, nil, nil)
	})
	get("status/flags", func(ctx *fasthttp.RequestCtx) {
		ok(ctx, map[string]string{"listen": ":8080", "data-dir": "/var/lib/silverback", "retention": "15d"}, nil, nil)
	})
	get("status/walreplay", func(ctx *fasthttp.RequestCtx) { ok(ctx, map[string]int{"min": 0, "max": 7, "current": 7}, nil, nil) })
}

func (f *fakeAPI) labelNames() []string {
	set := map[string]bool{}
	for _, s := range f.series {
		for k := range s {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (f *fakeAPI) values(name string) []string {
	set := map[string]bool{}
	for _, s := range f.series {
		if v, ok := s[name]; ok {
			set[v] = true
		}
	}
	out := []string{}
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func ok(ctx *fasthttp.RequestCtx, data any, warnings, infos []string) {
	body := map[string]any{"status": "success", "data": data}
	if len(warnings) > 0 {
		body["warnings"] = warnings
	}
	if len(infos) > 0 {
		body["infos"] = infos
	}
	writeJSON(ctx, 200, body)
}

func apiErr(ctx *fasthttp.RequestCtx, typ, msg string) {
	writeJSON(ctx, 400, map[string]any{"status": "error", "errorType": typ, "error": msg})
}

func writeJSON(ctx *fasthttp.RequestCtx, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	ctx.SetStatusCode(code)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// parse checks q with Prometheus's parser; the error text is what the
// real API answers (invalid parameter "query": <line>:<col>: parse error: …).
func parse(ctx *fasthttp.RequestCtx, q string) bool {
	if _, err := parser.NewParser(parser.Options{}).ParseExpr(q); err != nil {
		apiErr(ctx, "bad_data", fmt.Sprintf("invalid parameter %q: %v", "query", err))
		return false
	}
	return true
}

func (f *fakeAPI) parseQuery(ctx *fasthttp.RequestCtx) {
	q := string(ctx.QueryArgs().Peek("query"))
	if parse(ctx, q) {
		ok(ctx, map[string]any{"type": "vectorSelector", "name": q}, nil, nil)
	}
}

// eval returns the fake result of q: its label sets, the value of
// series i at time t (seconds), warnings and infos.
func (f *fakeAPI) eval(q string) ([]map[string]string, func(i int, t float64) float64, []string, []string) {
	switch q {
	case "many":
		ms := make([]map[string]string, 150)
		for i := range ms {
			ms[i] = map[string]string{"__name__": "many", "i": strconv.Itoa(i)}
		}
		return ms, func(i int, _ float64) float64 { return float64(i) }, nil, nil
	case "warn_metric":
		return []map[string]string{{"__name__": "warn_metric"}}, func(int, float64) float64 { return 5 },
			[]string{"fake warning: this is what a warning looks like"},
			[]string{"fake info: PromQL info: metric might not be a counter"}
	case "sum(tsdb_head_series)":
		return []map[string]string{{}}, func(_ int, t float64) float64 { return 1000 + math.Mod(t, 86400)/100 }, nil, nil
	}
	// A series selector over the fixed series.
	e, err := parser.NewParser(parser.Options{}).ParseExpr(q)
	if err != nil {
		return nil, nil, nil, nil
	}
	sel, isSel := e.(*parser.VectorSelector)
	if !isSel {
		return nil, nil, nil, nil
	}
	var ms []map[string]string
	var fns []func(t float64) float64
next:
	for i, s := range f.series {
		for _, lm := range sel.LabelMatchers {
			if !lm.Matches(s[lm.Name]) {
				continue next
			}
		}
		ms = append(ms, s)
		switch s["__name__"] {
		case "up": // 1, 2, 3 for instances a, b, c
			fns = append(fns, func(float64) float64 { return float64(i + 1) })
		case "node_cpu_seconds_total": // a counter: t/1000, cpu 1 100 higher
			fns = append(fns, func(t float64) float64 { return t/1000 + float64(100*(i-3)) })
		default:
			fns = append(fns, func(float64) float64 { return 42 })
		}
	}
	return ms, func(i int, t float64) float64 { return fns[i](t) }, nil, nil
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func (f *fakeAPI) query(ctx *fasthttp.RequestCtx) {
	q := string(ctx.QueryArgs().Peek("query"))
	if !parse(ctx, q) {
		return
	}
	t, _ := strconv.ParseFloat(string(ctx.QueryArgs().Peek("time")), 64)
	if strings.HasSuffix(q, "[5m]") { // raw samples of a range: a matrix
		ms, val, _, _ := f.eval(strings.TrimSuffix(q, "[5m]"))
		res := []map[string]any{}
		for i, m := range ms {
			var vals [][2]any
			for k := 4; k >= 0; k-- {
				ts := math.Floor(t) - float64(60*k)
				vals = append(vals, [2]any{ts, fmtFloat(val(i, ts))})
			}
			res = append(res, map[string]any{"metric": m, "values": vals})
		}
		ok(ctx, map[string]any{"resultType": "matrix", "result": res}, nil, nil)
		return
	}
	ms, val, w, in := f.eval(q)
	res := []map[string]any{}
	for i, m := range ms {
		res = append(res, map[string]any{"metric": m, "value": [2]any{t, fmtFloat(val(i, t))}})
	}
	ok(ctx, map[string]any{"resultType": "vector", "result": res}, w, in)
}

func (f *fakeAPI) queryRange(ctx *fasthttp.RequestCtx) {
	a := ctx.QueryArgs()
	q := string(a.Peek("query"))
	if !parse(ctx, q) {
		return
	}
	start, err1 := strconv.ParseFloat(string(a.Peek("start")), 64)
	end, err2 := strconv.ParseFloat(string(a.Peek("end")), 64)
	step, err3 := strconv.ParseFloat(string(a.Peek("step")), 64)
	if err1 != nil || err2 != nil || err3 != nil || step <= 0 || end < start {
		apiErr(ctx, "bad_data", "invalid start, end or step")
		return
	}
	if (end-start)/step > 11000 {
		apiErr(ctx, "bad_data", "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
		return
	}
	ms, val, w, in := f.eval(q)
	res := []map[string]any{}
	for i, m := range ms {
		var vals [][2]any
		for t := math.Ceil(start/step) * step; t <= end; t += step {
			vals = append(vals, [2]any{t, fmtFloat(val(i, t))})
		}
		res = append(res, map[string]any{"metric": m, "values": vals})
	}
	ok(ctx, map[string]any{"resultType": "matrix", "result": res}, w, in)
}

// match returns the series matching the request's match[] selectors
// (all series without any).
func (f *fakeAPI) match(ctx *fasthttp.RequestCtx) ([]map[string]string, error) {
	ms := ctx.QueryArgs().PeekMulti("match[]")
	if len(ms) == 0 {
		return f.series, nil
	}
	var out []map[string]string
	for _, m := range ms {
		e, err := parser.NewParser(parser.Options{}).ParseExpr(string(m))
		if err != nil {
			return nil, err
		}
		vs, isVS := e.(*parser.VectorSelector)
		if !isVS {
			return nil, fmt.Errorf("match[] %q is not a series selector", m)
		}
	next:
		for _, s := range f.series {
			for _, lm := range vs.LabelMatchers {
				if !lm.Matches(s[lm.Name]) {
					continue next
				}
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeAPI) seriesAPI(ctx *fasthttp.RequestCtx) {
	out, err := f.match(ctx)
	if err != nil {
		apiErr(ctx, "bad_data", err.Error())
		return
	}
	ok(ctx, out, nil, nil)
}

func (f *fakeAPI) tsdbStatus(ctx *fasthttp.RequestCtx) {
	type stat struct {
		Name  string `json:"name"`
		Value uint64 `json:"value"`
	}
	byName := map[string]uint64{}
	pairs := map[string]uint64{}
	for _, s := range f.series {
		byName[s["__name__"]]++
		for k, v := range s {
			pairs[k+"="+v]++
		}
	}
	top := func(m map[string]uint64) []stat {
		var out []stat
		for k, v := range m {
			out = append(out, stat{k, v})
		}
		slices.SortFunc(out, func(a, b stat) int {
			if a.Value != b.Value {
				return int(b.Value) - int(a.Value)
			}
			return strings.Compare(a.Name, b.Name)
		})
		return out
	}
	var valueCounts []stat
	for _, n := range f.labelNames() {
		valueCounts = append(valueCounts, stat{n, uint64(len(f.values(n)))})
	}
	ok(ctx, map[string]any{
		"headStats": map[string]any{"numSeries": len(f.series), "numLabelPairs": len(pairs), "chunkCount": 12,
			"minTime": 1764741600000, "maxTime": 1764745200000},
		"seriesCountByMetricName":     top(byName),
		"labelValueCountByLabelName":  valueCounts,
		"memoryInBytesByLabelName":    []stat{{"instance", 3}, {"job", 7}},
		"seriesCountByLabelValuePair": top(pairs),
	}, nil, nil)
}
