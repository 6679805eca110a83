package shard

import (
	"context"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// Deletion.
//
// Deleting samples of the series matching a selector in [mint, maxt] writes
// tombstones; queries honour them at once and compaction (or a head cut)
// removes the data. In the head, tombstones live in s.tombs by ref and are
// logged to the WAL (so replay restores them). In a block they go to the
// block's tombstones file, atomically replaced.

// Delete marks the samples in [mint, maxt] of the series matching ms as
// deleted, in the head and in every block, and returns once the head's
// tombstones are durable in the WAL. Safe for concurrent use; it runs on
// the shard goroutine between appends.
func (s *Shard) Delete(ctx context.Context, mint, maxt int64, ms ...*labels.Matcher) error {
	if mint > maxt {
		return fmt.Errorf("delete: mint %d after maxt %d", mint, maxt)
	}
	var seq uint64
	err := s.exec(ctx, func() error {
		var err error
		seq, err = s.deleteLocked(mint, maxt, ms)
		return err
	})
	if err != nil {
		return err
	}
	return s.WaitDurable(ctx, seq)
}

// deleteLocked runs on the shard goroutine. It first lets a running
// background job land, so its tombstones reach the blocks that job writes.
func (s *Shard) deleteLocked(mint, maxt int64, ms []*labels.Matcher) (uint64, error) {
	s.settleJob()
	defer s.noteChange(mint) // after the tombstones are visible, on every path
	iv := block.Interval{MinT: mint, MaxT: maxt}
	bm, err := s.head.index.Select(ms...)
	if err != nil {
		return 0, err
	}
	var recs []walseg.Tombstone
	it := bm.Iterator()
	for it.HasNext() {
		ref := it.Next()
		ser := s.head.get(ref)
		if ser == nil || !ser.hasSamples() || mint > ser.app.MaxTime() {
			continue
		}
		s.tombs[ref] = s.tombs[ref].Add(iv)
		recs = append(recs, walseg.Tombstone{Ref: ref, MinT: mint, MaxT: maxt})
	}
	for _, b := range s.blocks {
		m := b.Meta()
		if m.MaxTime <= mint || m.MinTime > maxt {
			continue
		}
		bm, err := b.Postings(ms...)
		if err != nil {
			return 0, fmt.Errorf("block %s: %w", m.ULID, err)
		}
		if bm.IsEmpty() {
			continue
		}
		old := b.Tombstones()
		ts := make(block.Tombstones, len(old)+int(bm.GetCardinality()))
		for ref, ivs := range old {
			ts[ref] = ivs
		}
		bit := bm.Iterator()
		for bit.HasNext() {
			ref := bit.Next()
			ts[ref] = ts[ref].Add(iv)
		}
		if err := b.SetTombstones(ts); err != nil {
			return 0, fmt.Errorf("block %s: %w", m.ULID, err)
		}
	}
	if len(recs) == 0 {
		return 0, nil
	}
	seq, err := s.wal.Write(walseg.AppendTombstones(nil, recs))
	if err != nil {
		return 0, fmt.Errorf("write tombstones to wal: %w", err)
	}
	s.m.Deletions.Add(1)
	return seq, nil
}

// dropPersistedTombstones forgets head tombstones that lie entirely before
// boundary: a head cut applied them to the data it persisted.
func (s *Shard) dropPersistedTombstones(boundary int64) {
	for ref, ivs := range s.tombs {
		var kept block.Intervals
		for _, iv := range ivs {
			if iv.MaxT >= boundary {
				kept = append(kept, iv)
			}
		}
		if len(kept) == 0 {
			delete(s.tombs, ref)
		} else {
			s.tombs[ref] = kept
		}
	}
}

// applyIntervals returns chunks without the samples inside ivs: chunks that
// no interval touches are kept as they are, the others re-encoded (and
// dropped when nothing is left).
func applyIntervals(chunks []chunkstore.Chunk, ivs block.Intervals) ([]chunkstore.Chunk, error) {
	out := chunks[:0]
	var it chunkstore.Iterator
	for _, c := range chunks {
		if !ivs.Overlaps(c.MinT, c.MaxT) {
			out = append(out, c)
			continue
		}
		if ivs.Covers(c.MinT, c.MaxT) {
			continue
		}
		var a chunkstore.Appender
		a.Reset(nil)
		it.Reset(c)
		for it.Next() {
			t, v := it.At()
			if !ivs.Contains(t) {
				a.Append(t, v)
			}
		}
		if err := it.Err(); err != nil {
			return nil, err
		}
		if a.NumSamples() > 0 {
			out = append(out, a.Chunk())
		}
	}
	return out, nil
}

// exec runs fn on the shard goroutine between appends; unlike a View, fn may
// change shard state (it is the shard goroutine).
func (s *Shard) exec(ctx context.Context, fn func() error) error {
	return s.View(ctx, func(*View) error { return fn() })
}
