package pipeline

import (
	"context"
	"math"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/postings"
	"github.com/silverback-tsdb/tsdb/shard"
)

// HeadStats describe the heads of all shards together, for the status
// API (/api/v1/status/tsdb).
type HeadStats struct {
	NumSeries int
	// MinTime and MaxTime bound the samples in the heads (ms); MinTime >
	// MaxTime when every head is empty.
	MinTime, MaxTime int64
	// Pairs are every label name=value pair of the heads with its number
	// of series (summed over shards, which hold disjoint series), sorted
	// by name then value.
	Pairs []postings.Count
	// Shards has one entry per shard, by shard ID.
	Shards []ShardStats
}

// ShardStats describe one shard's head and blocks.
type ShardStats struct {
	ID               int
	NumSeries        int
	MinTime, MaxTime int64
	Blocks           []block.Meta
}

// HeadStats collects the heads' statistics from every shard. It copies
// each shard's postings statistics in full (one entry per label pair): it
// is meant for a status page, not a hot path.
func (db *DB) HeadStats(ctx context.Context) (HeadStats, error) {
	if db.closed() {
		return HeadStats{}, ErrClosed
	}
	n := len(db.shards)
	per := make([]ShardStats, n)
	pairs := make([][]postings.Count, n)
	var g errgroup.Group
	for i, s := range db.shards {
		g.Go(func() error {
			return s.View(ctx, func(v *shard.View) error {
				st := v.Stats(math.MaxInt)
				pairs[i] = st.LabelPairs
				mint, maxt := v.Bounds()
				per[i] = ShardStats{ID: s.ID(), NumSeries: v.NumSeries(), MinTime: mint, MaxTime: maxt}
				bs := v.Blocks(nil, math.MinInt64, math.MaxInt64)
				for _, b := range bs {
					per[i].Blocks = append(per[i].Blocks, b.Meta())
					b.Release()
				}
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return HeadStats{}, err
	}
	out := HeadStats{MinTime: math.MaxInt64, MaxTime: math.MinInt64, Shards: per}
	for _, s := range per {
		out.NumSeries += s.NumSeries
		if s.MinTime <= s.MaxTime {
			out.MinTime = min(out.MinTime, s.MinTime)
			out.MaxTime = max(out.MaxTime, s.MaxTime)
		}
	}
	var all []postings.Count
	for _, p := range pairs {
		all = append(all, p...)
	}
	slices.SortFunc(all, func(a, b postings.Count) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	for _, c := range all {
		if k := len(out.Pairs) - 1; k >= 0 && out.Pairs[k].Name == c.Name && out.Pairs[k].Value == c.Value {
			out.Pairs[k].Count += c.Count
			continue
		}
		out.Pairs = append(out.Pairs, c)
	}
	return out, nil
}
