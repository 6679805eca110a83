package queryexec

import (
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// Selectors stream: each series is read through its chunk iterator, which
// seeks past whole chunks no step needs, and only the samples of the
// current step's window are held. Nothing the size of a series' whole
// range is materialised.

// selectSeries selects the series matching ms with samples in [mint, maxt].
// With hints, chunks no step's window needs are not read.
func (ev *evaluator) selectSeries(ms []*labels.Matcher, mint, maxt int64, h *pipeline.SelectHints) (*pipeline.SeriesSet, error) {
	q, err := ev.db.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	ev.queriers = append(ev.queriers, q)
	return q.SelectHinted(ev.ctx, h, ms...)
}

// cursor walks one series forward in time.
type cursor struct {
	it      *pipeline.SampleIterator
	pend    bool // it holds an unread sample
	pt      int64
	pf      float64
	started bool
}

func (c *cursor) reset(it *pipeline.SampleIterator) {
	*c = cursor{it: it}
}

func (c *cursor) next() {
	c.pend = c.it.Next()
	if c.pend {
		c.pt, c.pf = c.it.At()
	}
}

// seek makes the pending sample the first at or after t.
func (c *cursor) seek(t int64) {
	if !c.started {
		c.started = true
		c.pend = c.it.SeekTo(t)
		if c.pend {
			c.pt, c.pf = c.it.At()
		}
		return
	}
	if c.pend && c.pt >= t {
		return
	}
	c.pend = c.it.SeekTo(t)
	if c.pend {
		c.pt, c.pf = c.it.At()
	}
}

// selectInstantStream evaluates a vector selector over g.
func (ev *evaluator) selectInstantStream(e *parser.VectorSelector, g grid, wantTS bool) (*vectorVal, [][]int64, error) {
	first := selectorTime(g.start, e.Timestamp, e.OriginalOffset)
	last := selectorTime(g.end, e.Timestamp, e.OriginalOffset)
	h := &pipeline.SelectHints{Start: first, End: last, Step: g.interval, Range: ev.lookback, StaleOnly: ev.staleOnly}
	if e.Timestamp != nil {
		h.End, h.Step = h.Start, 0
	}
	ss, err := ev.selectSeries(e.LabelMatchers, first-ev.lookback+1, last, h)
	if err != nil {
		return nil, nil, err
	}
	out := &vectorVal{s: make([]vseries, 0, ss.Len())}
	var tss [][]int64
	var it *pipeline.SampleIterator
	var c cursor
	held := 0
	// One backing array for every series' values and presence.
	fs := make([]float64, ss.Len()*g.n)
	oks := make([]bool, ss.Len()*g.n)
	k := 0
	for ss.Next() {
		if err := ev.checkCtx(); err != nil {
			return nil, nil, err
		}
		s := ss.At()
		it = s.Iterator(it)
		c.reset(it)
		vs := vseries{lset: s.Labels(), f: fs[k*g.n : (k+1)*g.n : (k+1)*g.n], ok: oks[k*g.n : (k+1)*g.n : (k+1)*g.n]}
		var ts []int64
		if wantTS {
			ts = make([]int64, g.n)
		}
		any := false
		var curT int64
		var curF float64
		haveCur := false
		for i := range g.n {
			rt := selectorTime(g.ts(i), e.Timestamp, e.OriginalOffset)
			if e.Timestamp != nil && i > 0 {
				vs.f[i], vs.ok[i] = vs.f[0], vs.ok[0]
				if wantTS {
					ts[i] = ts[0]
				}
				continue
			}
			lo := rt - ev.lookback // exclusive
			if !haveCur || curT <= lo {
				c.seek(lo + 1)
				haveCur = false
			}
			for c.pend && c.pt <= rt {
				curT, curF, haveCur = c.pt, c.pf, true
				c.next()
			}
			if !haveCur || curT <= lo || value.IsStaleNaN(curF) {
				continue
			}
			vs.f[i], vs.ok[i] = curF, true
			if wantTS {
				ts[i] = curT
			}
			any = true
			held++
		}
		if err := it.Err(); err != nil {
			return nil, nil, err
		}
		if any {
			out.s = append(out.s, vs)
			tss = append(tss, ts)
			k++
		} else {
			clear(vs.ok)
		}
	}
	if err := ev.hold(held); err != nil {
		return nil, nil, err
	}
	return out, tss, nil
}

// windowBuf holds the samples of one series' current window.
type windowBuf struct {
	t   []int64
	f   []float64
	off int // first live sample
}

func (w *windowBuf) reset() { w.t, w.f, w.off = w.t[:0], w.f[:0], 0 }

// dropTo drops samples at or before t.
func (w *windowBuf) dropTo(t int64) {
	for w.off < len(w.t) && w.t[w.off] <= t {
		w.off++
	}
	if w.off > 0 && w.off == len(w.t) {
		w.reset()
		return
	}
	if w.off > 1024 && w.off*2 > len(w.t) {
		n := copy(w.t, w.t[w.off:])
		copy(w.f, w.f[w.off:])
		w.t, w.f, w.off = w.t[:n], w.f[:n], 0
	}
}

func (w *windowBuf) live() ([]int64, []float64) { return w.t[w.off:], w.f[w.off:] }

func (w *windowBuf) len() int { return len(w.t) - w.off }
