package queryexec

import (
	"fmt"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// Push-down: a range function over a selector is evaluated inside the
// storage read, shard by shard (pipeline.Querier.SelectShards): each
// shard's series are evaluated over their chunks on that shard's fan-out
// goroutine as soon as the shard is read, while the other shards still
// read, and only the per-series step vectors (or, below an aggregation
// that merges exactly, one partial vector per group) come back to the
// query goroutine. The select carries hints (the step grid and the window)
// so that chunks no window needs are not read at all.
//
// CPU is bounded per query and engine-wide: a shard's evaluation runs only
// while it holds the query's own token (its goroutine's share) or a token
// of the engine's worker pool, so a heavy query uses at most 1 + the
// pool's cores, and ingest keeps the rest.

// shardSelect is a selector to be read shard by shard.
type shardSelect struct {
	ms         []*labels.Matcher
	mint, maxt int64
	hints      *pipeline.SelectHints
}

// shardResult is one shard's evaluated series: out[i] was computed from
// the input series keys[i]; keys are in label order.
type shardResult struct {
	out   []vseries
	keys  []labels.Labels
	annos annotations.Annotations
	held  int
	err   error
}

// acquireWorker blocks until this query may use one more core: its own
// token (free while the query goroutine waits in the fan-in) or one of the
// engine's pool. It returns the release.
func (ev *evaluator) acquireWorker() (func(), error) {
	select {
	case ev.own <- struct{}{}:
		return func() { <-ev.own }, nil
	default:
	}
	select {
	case ev.own <- struct{}{}:
		return func() { <-ev.own }, nil
	case ev.workers <- struct{}{}: // nil pool: never
		return func() { <-ev.workers }, nil
	case <-ev.ctx.Done():
		return nil, ev.ctx.Err()
	}
}

// eachShard selects sel and calls fn with every shard's series set on that
// shard's fan-out goroutine, holding a worker token; a panic in fn (a bug)
// becomes that shard's error instead of ending the process.
func (ev *evaluator) eachShard(sel *shardSelect, fn func(shard int, ss *pipeline.SeriesSet) error) error {
	q, err := ev.db.Querier(sel.mint, sel.maxt)
	if err != nil {
		return err
	}
	ev.queriers = append(ev.queriers, q)
	return q.SelectShards(ev.ctx, sel.hints, func(shard int, ss *pipeline.SeriesSet) (err error) {
		if ss.Len() == 0 {
			return nil
		}
		release, err := ev.acquireWorker()
		if err != nil {
			return err
		}
		defer release()
		defer func() {
			if r := recover(); r != nil {
				err = &Error{Kind: KindInternal, Err: fmt.Errorf("query evaluation panicked: %v", r)}
			}
		}()
		return fn(shard, ss)
	}, sel.ms...)
}

// shardedRange evaluates the range function of rw shard by shard and
// returns every series' result in the label order of the input series
// (the order Prometheus evaluates, and sums, them in).
func (ev *evaluator) shardedRange(rw *rangeWork) (*shardResult, error) {
	var mu sync.Mutex
	var parts []*shardResult
	err := ev.eachShard(rw.src.sel, func(_ int, ss *pipeline.SeriesSet) error {
		r := &shardResult{}
		var st rangeState
		st.init(rw)
		for ss.Next() {
			s := ss.At()
			if r.err = ev.checkCtx(); r.err != nil {
				return r.err
			}
			st.it = s.Iterator(st.it)
			st.buf.reset()
			vs, ok, err := rw.series(&st, rseries{lset: s.Labels()}, true, &r.annos)
			if err != nil {
				return err
			}
			if ok {
				r.out = append(r.out, vs)
				r.keys = append(r.keys, s.Labels())
			}
		}
		if err := ss.Err(); err != nil {
			return err
		}
		r.held = st.held
		mu.Lock()
		parts = append(parts, r)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := mergeShardResults(parts)
	ev.annos.Merge(res.annos)
	return res, nil
}

// mergeShardResults merges shard results (each in key order; shards hold
// disjoint series) into one in key order.
func mergeShardResults(parts []*shardResult) *shardResult {
	res := &shardResult{}
	n := 0
	for _, p := range parts {
		n += len(p.out)
		res.held += p.held
		res.annos.Merge(p.annos)
	}
	if len(parts) == 1 {
		res.out, res.keys = parts[0].out, parts[0].keys
		return res
	}
	res.out = make([]vseries, 0, n)
	res.keys = make([]labels.Labels, 0, n)
	idx := make([]int, len(parts))
	for {
		best := -1
		for i, p := range parts {
			if idx[i] >= len(p.keys) {
				continue
			}
			if best < 0 || labels.Compare(p.keys[idx[i]], parts[best].keys[idx[best]]) < 0 {
				best = i
			}
		}
		if best < 0 {
			return res
		}
		p := parts[best]
		res.out = append(res.out, p.out[idx[best]])
		res.keys = append(res.keys, p.keys[idx[best]])
		idx[best]++
	}
}
