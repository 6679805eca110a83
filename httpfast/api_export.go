package httpfast

import (
	"bufio"
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// Export (GET or POST /api/v1/export and /api/v1/export/prometheus):
// every sample of the series matching any match[] in [start, end]
// (default: all time), streamed series by series so memory is bounded by
// the selected series' labels and chunk references, never by samples.
//
//   - /api/v1/export: JSON lines, one series per line, as VictoriaMetrics
//     writes them: {"metric":{...},"values":[...],"timestamps":[...]};
//     values are JSON numbers in the shortest form that parses back to the
//     same float64, and "NaN", "+Inf", "-Inf" as strings; timestamps are
//     integer ms.
//   - /api/v1/export/prometheus: text exposition, one sample per line
//     with its ms timestamp, values formatted as above (unquoted).
//
// Both read back bit-exact through the importers (tsdb import; text
// through /api/v1/import/prometheus), except that every NaN reads back as
// the one NaN the parsers produce (Prometheus's stale marker becomes an
// ordinary NaN).

func (s *Server) handleExport(ctx *fasthttp.RequestCtx) { s.export(ctx, false) }

func (s *Server) handleExportText(ctx *fasthttp.RequestCtx) { s.export(ctx, true) }

func (s *Server) export(ctx *fasthttp.RequestCtx, text bool) {
	qb := s.query.Load()
	if qb == nil {
		writeAPIError(ctx, &apiError{typ: errorUnavailable, status: fasthttp.StatusServiceUnavailable,
			err: errors.New("not ready: the database is replaying its write-ahead log; retry later")})
		return
	}
	ms := formValues(ctx, "match[]")
	if len(ms) == 0 {
		writeAPIError(ctx, badData(errors.New("no match[] parameter provided")))
		return
	}
	mint, maxt, e := timeRange(ctx)
	if e != nil {
		writeAPIError(ctx, e)
		return
	}
	sets, err := parseMatchers(ms)
	if err != nil {
		writeAPIError(ctx, invalidParam(err, "match[]"))
		return
	}
	q, err := qb.DB.Querier(mint, max(mint, maxt))
	if err != nil {
		writeAPIError(ctx, storageError(err))
		return
	}
	rctx, cancel := requestContext(0)
	var all []*pipeline.SeriesSet
	for _, set := range sets {
		ss, err := q.Select(rctx, set...)
		if err != nil {
			cancel()
			q.Close()
			writeAPIError(ctx, storageError(err))
			return
		}
		all = append(all, ss)
	}
	series, err := mergeSeriesSets(all)
	if err != nil {
		cancel()
		q.Close()
		writeAPIError(ctx, storageError(err))
		return
	}
	if text {
		ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	} else {
		ctx.SetContentType("application/stream+json")
	}
	log := s.log
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer q.Close()
		defer cancel()
		var (
			it  *pipeline.SampleIterator
			buf []byte
			ts  []int64
			vs  []float64
		)
		for _, se := range series {
			if mint > maxt {
				break
			}
			it = se.Iterator(it)
			ts, vs = ts[:0], vs[:0]
			for it.Next() {
				t, v := it.At()
				ts = append(ts, t)
				vs = append(vs, v)
			}
			if err := it.Err(); err != nil {
				log.Error("export cut short: a chunk failed to decode", zap.Stringer("series", se.Labels()), zap.Error(err))
				return
			}
			if len(ts) == 0 {
				continue
			}
			buf = buf[:0]
			if text {
				buf = appendExportText(buf, se.Labels(), ts, vs)
			} else {
				buf = appendExportJSON(buf, se.Labels(), ts, vs)
			}
			if _, err := w.Write(buf); err != nil {
				return // the client went away
			}
		}
	})
}

// mergeSeriesSets returns the series of every set in label order, each
// once (several match[] may select the same series), or the first set's
// error.
func mergeSeriesSets(sets []*pipeline.SeriesSet) ([]*pipeline.Series, error) {
	var out []*pipeline.Series
	for _, ss := range sets {
		for ss.Next() {
			se := *ss.At()
			out = append(out, &se)
		}
		if err := ss.Err(); err != nil {
			return nil, err
		}
	}
	if len(sets) > 1 {
		slices.SortStableFunc(out, func(a, b *pipeline.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
		out = slices.CompactFunc(out, func(a, b *pipeline.Series) bool { return labels.Equal(a.Labels(), b.Labels()) })
	}
	return out, nil
}

// appendExportFloat appends v in the shortest form that parses back to
// the same float64; non-finite values as NaN, +Inf, -Inf.
func appendExportFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func appendExportJSON(b []byte, ls labels.Labels, ts []int64, vs []float64) []byte {
	b = append(b, `{"metric":`...)
	b = appendLabels(b, ls)
	b = append(b, `,"values":[`...)
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, '"')
			b = appendExportFloat(b, v)
			b = append(b, '"')
			continue
		}
		b = appendExportFloat(b, v)
	}
	b = append(b, `],"timestamps":[`...)
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, t, 10)
	}
	return append(b, "]}\n"...)
}

func appendExportText(b []byte, ls labels.Labels, ts []int64, vs []float64) []byte {
	var series []byte
	series = append(series, ls.Get(model.MetricNameLabel)...)
	n := 0
	ls.Range(func(l labels.Label) {
		if l.Name == model.MetricNameLabel {
			return
		}
		if n == 0 {
			series = append(series, '{')
		} else {
			series = append(series, ',')
		}
		n++
		series = append(series, l.Name...)
		series = append(series, '=', '"')
		series = appendTextLabelValue(series, l.Value)
		series = append(series, '"')
	})
	if n > 0 {
		series = append(series, '}')
	}
	for i, t := range ts {
		b = append(b, series...)
		b = append(b, ' ')
		b = appendExportFloat(b, vs[i])
		b = append(b, ' ')
		b = strconv.AppendInt(b, t, 10)
		b = append(b, '\n')
	}
	return b
}

// appendTextLabelValue escapes \, " and newline as the text format wants.
func appendTextLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}
