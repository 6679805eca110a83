package queryexec

import (
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// Selectors stream: each series is read through its chunk iterator, which
// seeks past whole chunks no step needs, and only the samples of the
// current step's window are held. Nothing the size of a series' whole
// range is materialised.

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

// instantPart is one shard's evaluated vector selector: out in label
// order, tss[k] the sample timestamps of out[k] (with wantTS).
type instantPart struct {
	out  []vseries
	tss  [][]int64
	held int
}

// selectInstantStream evaluates a vector selector over g. Each shard's
// series are evaluated on that shard's fan-out goroutine (eachShard, one
// worker token each), as soon as the shard is read, and the shards'
// vectors are merged in label order, the order of a whole selection.
func (ev *evaluator) selectInstantStream(e *parser.VectorSelector, g grid, wantTS bool) (*vectorVal, [][]int64, error) {
	first := selectorTime(g.start, e.Timestamp, e.OriginalOffset)
	last := selectorTime(g.end, e.Timestamp, e.OriginalOffset)
	h := &pipeline.SelectHints{Start: first, End: last, Step: g.interval, Range: ev.lookback, StaleOnly: ev.staleOnly}
	if e.Timestamp != nil {
		h.End, h.Step = h.Start, 0
	}
	sel := &shardSelect{ms: e.LabelMatchers, mint: first - ev.lookback + 1, maxt: last, hints: h}
	var mu sync.Mutex
	var parts []*instantPart
	err := ev.eachShard(sel, func(_ int, ss *pipeline.SeriesSet) error {
		p, err := ev.instantShard(e, g, wantTS, ss)
		if err != nil {
			return err
		}
		mu.Lock()
		parts = append(parts, p)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	out, tss, held := mergeInstantParts(parts)
	if err := ev.hold(held); err != nil {
		return nil, nil, err
	}
	return out, tss, nil
}

// mergeInstantParts merges shard vectors (each in label order; shards hold
// disjoint series) into one in label order.
func mergeInstantParts(parts []*instantPart) (*vectorVal, [][]int64, int) {
	held, n := 0, 0
	for _, p := range parts {
		held += p.held
		n += len(p.out)
	}
	if len(parts) == 1 {
		return &vectorVal{s: parts[0].out}, parts[0].tss, held
	}
	out := &vectorVal{s: make([]vseries, 0, n)}
	var tss [][]int64
	if n > 0 && len(parts) > 0 && parts[0].tss != nil {
		tss = make([][]int64, 0, n)
	}
	idx := make([]int, len(parts))
	for {
		best := -1
		for i, p := range parts {
			if idx[i] >= len(p.out) {
				continue
			}
			if best < 0 || labels.Compare(p.out[idx[i]].lset, parts[best].out[idx[best]].lset) < 0 {
				best = i
			}
		}
		if best < 0 {
			return out, tss, held
		}
		p := parts[best]
		out.s = append(out.s, p.out[idx[best]])
		if p.tss != nil {
			tss = append(tss, p.tss[idx[best]])
		}
		idx[best]++
	}
}

// instantShard evaluates vector selector e over g for one shard's series.
// It runs on the shard's fan-out goroutine: it reads the evaluator's
// immutable fields only.
func (ev *evaluator) instantShard(e *parser.VectorSelector, g grid, wantTS bool, ss *pipeline.SeriesSet) (*instantPart, error) {
	p := &instantPart{out: make([]vseries, 0, ss.Len())}
	if wantTS {
		p.tss = make([][]int64, 0, ss.Len())
	}
	var it *pipeline.SampleIterator
	var c cursor
	// One backing array for every series' values and presence.
	fs := make([]float64, ss.Len()*g.n)
	oks := make([]bool, ss.Len()*g.n)
	k := 0
	for ss.Next() {
		if err := ev.checkCtx(); err != nil {
			return nil, err
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
				// Only the last sample at or before rt counts: jump to
				// it within the decoded chunk, then look one past it.
				curT, curF = c.it.SkipTo(rt)
				haveCur = true
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
			p.held++
		}
		if err := it.Err(); err != nil {
			return nil, err
		}
		if any {
			p.out = append(p.out, vs)
			if wantTS {
				p.tss = append(p.tss, ts)
			}
			k++
		} else {
			clear(vs.ok)
		}
	}
	if err := ss.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// windowBuf holds the samples of one series' current window.
type windowBuf struct {
	t   []int64
	f   []float64
	off int // first live sample
	// hi is the index of the first sample after the end of the last
	// window upTo returned (window ends only grow within a series).
	hi int
}

func (w *windowBuf) reset() { w.t, w.f, w.off, w.hi = w.t[:0], w.f[:0], 0, 0 }

// upTo returns the live samples at or before t: the window of a step
// ending at t when the buffer was filled past it. Successive calls (until
// reset) must not decrease t; the end is found by walking on from the
// previous one, not by a search over the buffer.
func (w *windowBuf) upTo(t int64) ([]int64, []float64) {
	hi := max(w.hi, w.off)
	for hi < len(w.t) && w.t[hi] <= t {
		hi++
	}
	w.hi = hi
	return w.t[w.off:hi], w.f[w.off:hi]
}

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
		w.hi = max(0, w.hi-w.off)
		w.t, w.f, w.off = w.t[:n], w.f[:n], 0
	}
}

func (w *windowBuf) live() ([]int64, []float64) { return w.t[w.off:], w.f[w.off:] }

func (w *windowBuf) len() int { return len(w.t) - w.off }
