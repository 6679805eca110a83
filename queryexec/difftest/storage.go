package difftest

import (
	"context"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// Queryable serves a pipeline.DB to Prometheus's engine: the engine reads
// exactly the samples queryexec reads.
type Queryable struct{ DB *pipeline.DB }

// Querier implements storage.Queryable.
func (q Queryable) Querier(mint, maxt int64) (storage.Querier, error) {
	pq, err := q.DB.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return &querier{q: pq}, nil
}

type querier struct{ q *pipeline.Querier }

func (q *querier) Select(ctx context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	ss, err := q.q.Select(ctx, ms...)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	out := &seriesSet{i: -1}
	var it *pipeline.SampleIterator
	for ss.Next() {
		s := ss.At()
		it = s.Iterator(it)
		sr := &series{lset: s.Labels(), c: chunkenc.NewXORChunk()}
		app, err := sr.c.Appender()
		if err != nil {
			return storage.ErrSeriesSet(err)
		}
		n := 0
		for it.Next() {
			t, f := it.At()
			app.Append(0, t, f)
			n++
		}
		if n > math.MaxUint16 {
			return storage.ErrSeriesSet(fmt.Errorf("series %s has %d samples in range, more than one chunk holds", sr.lset, n))
		}
		if err := it.Err(); err != nil {
			return storage.ErrSeriesSet(err)
		}
		out.s = append(out.s, sr)
	}
	return out
}

func (q *querier) LabelValues(ctx context.Context, name string, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	v, err := q.q.LabelValues(ctx, name, ms...)
	return v, nil, err
}

func (q *querier) LabelNames(ctx context.Context, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	v, err := q.q.LabelNames(ctx, ms...)
	return v, nil, err
}

func (q *querier) Close() error { return q.q.Close() }

type seriesSet struct {
	s []*series
	i int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.s) }
func (s *seriesSet) At() storage.Series                { return s.s[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

type series struct {
	lset labels.Labels
	c    *chunkenc.XORChunk
}

func (s *series) Labels() labels.Labels { return s.lset }

// Iterator iterates an XOR chunk holding the series' samples (stale
// markers included, bit for bit), the encoding Prometheus reads natively.
func (s *series) Iterator(it chunkenc.Iterator) chunkenc.Iterator { return s.c.Iterator(it) }
