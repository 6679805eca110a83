package httpfast

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/valyala/fasthttp"
)

const truncatedWarning = "results truncated due to limit"

// timeRange parses the optional start and end parameters of the metadata
// endpoints (default: all time).
func timeRange(ctx *fasthttp.RequestCtx) (mint, maxt int64, e *apiError) {
	start, err := parseTimeParam(ctx, "start", minTime)
	if err != nil {
		return 0, 0, invalidParam(err, "start")
	}
	end, err := parseTimeParam(ctx, "end", maxTime)
	if err != nil {
		return 0, 0, invalidParam(err, "end")
	}
	return toMillis(start), toMillis(end), nil
}

// apiSeries answers /api/v1/series: the label sets of the series matching
// any match[] with samples in [start, end], sorted.
func apiSeries(ctx *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	ms := formValues(ctx, "match[]")
	if len(ms) == 0 {
		return apiResult{err: badData(errors.New("no match[] parameter provided"))}
	}
	limit, err := parseLimit(formValue(ctx, "limit"))
	if err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	mint, maxt, e := timeRange(ctx)
	if e != nil {
		return apiResult{err: e}
	}
	sets, err := parseMatchers(ms)
	if err != nil {
		return apiResult{err: invalidParam(err, "match[]")}
	}
	if mint > maxt {
		return apiResult{data: seriesList{}}
	}
	q, err := qb.DB.Querier(mint, maxt)
	if err != nil {
		return apiResult{err: storageError(err)}
	}
	defer q.Close()
	rctx, cancel := requestContext(0)
	defer cancel()
	out := seriesList{}
	for _, set := range sets {
		ss, err := q.Select(rctx, set...)
		if err != nil {
			return apiResult{err: storageError(err)}
		}
		for ss.Next() {
			out = append(out, ss.At().Labels())
		}
		if err := ss.Err(); err != nil {
			return apiResult{err: storageError(err)}
		}
	}
	if len(sets) > 1 {
		slices.SortFunc(out, labels.Compare)
		out = slices.CompactFunc(out, labels.Equal)
	}
	var warnings []string
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings = append(warnings, truncatedWarning)
	}
	return apiResult{data: out, warnings: warnings}
}

// apiLabelNames answers /api/v1/labels.
func apiLabelNames(ctx *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	return labelStrings(ctx, qb, "")
}

// apiLabelValues answers /api/v1/label/<name>/values; name may be in the
// U__ escaping of Prometheus 3 (U__ then _XX_ hex code points).
func apiLabelValues(ctx *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	name, ok := labelValuesName(string(ctx.Path()))
	if !ok {
		return apiResult{err: &apiError{typ: errorNotFound, err: errors.New("not found")}}
	}
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return apiResult{err: badData(fmt.Errorf("invalid label name: %q", name))}
	}
	return labelStrings(ctx, qb, name)
}

const labelValuesPrefix, labelValuesSuffix = "/api/v1/label/", "/values"

// labelValuesName returns <name> of /api/v1/label/<name>/values.
func labelValuesName(path string) (string, bool) {
	if !strings.HasPrefix(path, labelValuesPrefix) || !strings.HasSuffix(path, labelValuesSuffix) ||
		len(path) < len(labelValuesPrefix)+len(labelValuesSuffix) {
		return "", false
	}
	name := path[len(labelValuesPrefix) : len(path)-len(labelValuesSuffix)]
	if strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

// labelStrings answers label names (name == "") or the values of name.
func labelStrings(ctx *fasthttp.RequestCtx, qb *QueryBackend, name string) apiResult {
	limit, err := parseLimit(formValue(ctx, "limit"))
	if err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	mint, maxt, e := timeRange(ctx)
	if e != nil {
		return apiResult{err: e}
	}
	var sets [][]*labels.Matcher
	if ms := formValues(ctx, "match[]"); len(ms) > 0 {
		if sets, err = parseMatchers(ms); err != nil {
			return apiResult{err: badData(err)}
		}
	}
	if mint > maxt {
		return apiResult{data: stringList{}}
	}
	q, err := qb.DB.Querier(mint, maxt)
	if err != nil {
		return apiResult{err: storageError(err)}
	}
	defer q.Close()
	rctx, cancel := requestContext(0)
	defer cancel()
	get := func(ms []*labels.Matcher) ([]string, error) {
		if name == "" {
			return q.LabelNames(rctx, ms...)
		}
		return q.LabelValues(rctx, name, ms...)
	}
	var out []string
	if len(sets) == 0 {
		out, err = get(nil)
		if err != nil {
			return apiResult{err: storageError(err)}
		}
	}
	for _, ms := range sets {
		vs, err := get(ms)
		if err != nil {
			return apiResult{err: storageError(err)}
		}
		out = append(out, vs...)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	var warnings []string
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings = append(warnings, truncatedWarning)
	}
	return apiResult{data: stringList(out), warnings: warnings}
}
