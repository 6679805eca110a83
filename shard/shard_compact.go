package shard

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
)

// DefaultCompactionRanges are the leveled block ranges: blocks cut from the
// head cover 2 h; six of them compact into 12 h; fourteen of those into 7 d.
var DefaultCompactionRanges = []time.Duration{2 * time.Hour, 12 * time.Hour, 7 * 24 * time.Hour}

// planCompaction picks the first group of blocks worth compacting:
// overlapping blocks first (vertical merge), then, for each range above the
// smallest, a completed window of that range holding more than one block.
// A window is complete when the head no longer accepts samples in it.
func (s *Shard) planCompaction() (job, bool) {
	if len(s.blocks) < 2 {
		return job{}, false
	}
	if group := overlapping(s.blocks); len(group) > 1 {
		return s.compactionJob(group, "vertical"), true
	}
	for _, r := range s.opts.CompactionRanges[1:] {
		if group := completeWindow(s.blocks, r.Milliseconds(), s.appendMinT); len(group) > 1 {
			return s.compactionJob(group, fmt.Sprintf("range %v", r)), true
		}
	}
	return job{}, false
}

// completeWindow returns the blocks of the oldest window [w·r, (w+1)·r) that
// holds more than one block smaller than r and that is complete (ends at or
// before appendMinT, so no later block can land in it). bs is sorted by
// MinTime.
func completeWindow(bs []*block.Block, r, appendMinT int64) []*block.Block {
	var group []*block.Block
	window := int64(0)
	for _, b := range bs {
		m := b.Meta()
		w := floorDiv(m.MinTime, r)
		fits := floorDiv(m.MaxTime-1, r) == w && m.MaxTime-m.MinTime < r
		if !fits || len(group) > 0 && w != window {
			if len(group) > 1 && (window+1)*r <= appendMinT {
				return slices.Clone(group)
			}
			group = group[:0]
		}
		if fits {
			window = w
			group = append(group, b)
		}
	}
	if len(group) > 1 && (window+1)*r <= appendMinT {
		return slices.Clone(group)
	}
	return nil
}

// overlapping returns the first run of blocks (sorted by MinTime) whose
// time ranges overlap.
func overlapping(bs []*block.Block) []*block.Block {
	for i := 0; i+1 < len(bs); i++ {
		maxT := bs[i].Meta().MaxTime
		j := i + 1
		for j < len(bs) && bs[j].Meta().MinTime < maxT {
			maxT = max(maxT, bs[j].Meta().MaxTime)
			j++
		}
		if j > i+1 {
			return slices.Clone(bs[i:j])
		}
	}
	return nil
}

// compactionJob merges group into one block on the worker; the result
// replaces the group in the block list.
func (s *Shard) compactionJob(group []*block.Block, why string) job {
	for _, b := range group {
		b.Acquire()
	}
	return job{
		name: fmt.Sprintf("compaction (%s) of %d blocks", why, len(group)),
		run: func(ctx context.Context) (func(*Shard) error, error) {
			defer func() {
				for _, b := range group {
					b.Release()
				}
			}()
			// The reencoder is owned by this job's goroutine.
			meta, err := block.Compact(s.blocksDir(), group, longTermOptions(chunkstore.NewReencoder(chunkstore.ReencodeOptions{}), 0, s.opts.RangeCodedCompaction))
			if err != nil {
				return nil, fmt.Errorf("compact: %w", err)
			}
			if meta.Stats.NumSeries == 0 {
				// Everything was deleted: no block replaces the group.
				dir := filepath.Join(s.blocksDir(), meta.ULID.String())
				if err := block.Delete(dir); err != nil {
					return nil, fmt.Errorf("remove empty compaction output: %w", err)
				}
				return func(s *Shard) error { return s.replaceBlocks(group, nil) }, nil
			}
			nb, err := block.Open(filepath.Join(s.blocksDir(), meta.ULID.String()), block.OpenOptions{})
			if err != nil {
				return nil, fmt.Errorf("open compacted block %s: %w", meta.ULID, err)
			}
			return func(s *Shard) error { return s.replaceBlocks(group, nb) }, nil
		},
	}
}

// longTermOptions are the options of every block the shard writes from the
// head or from other blocks: series of one scrape target share one
// timestamp column (docs/format/block.md §Timestamps section), the others
// are re-encoded into long chunks (12 h at 15 s) in the smaller of
// XOR and the decimal encoding, chosen per chunk (docs/COMPRESSION.md
// §Long-term encoding). maxSamples bounds the samples per chunk (0:
// chunkstore.DefaultLongTermSamples, 12 h at 15 s); re must have been made
// with the same bound and is owned by the calling goroutine. The index is
// compressed while it is small (docs/format/block.md §Index version 3).
// rangeCoded allows range-coded values (Options.RangeCodedCompaction).
func longTermOptions(re *chunkstore.Reencoder, maxSamples int, rangeCoded bool) block.CompactOptions {
	return block.CompactOptions{
		SharedTimestamps: true,
		LongTermSamples:  maxSamples,
		// Range-coded values where they pay, when asked for
		// (Options.RangeCodedCompaction), in compacted blocks only
		// (maxSamples 0): the head cut's blocks serve the recent-data
		// queries, which decode them at the zstd/packed layouts' speed
		// (docs/COMPRESSION.md §Issue 17: range-coded values).
		RangeCoded: rangeCoded && maxSamples == 0,
		// Index version 3 (zstd) while the index is at most 4 MiB.
		Writer: block.WriterOptions{CompressIndex: true},
		Rechunk: func(dst []chunkstore.Chunk, _ labels.Labels, src []chunkstore.Chunk) ([]chunkstore.Chunk, error) {
			return re.Reencode(dst, src)
		},
	}
}

// replaceBlocks swaps old for nb (nil: nothing) in the block list and
// retires old.
func (s *Shard) replaceBlocks(old []*block.Block, nb *block.Block) error {
	kept := s.blocks[:0:0]
	for _, b := range s.blocks {
		if !slices.Contains(old, b) {
			kept = append(kept, b)
		}
	}
	if nb != nil {
		kept = append(kept, nb)
	}
	slices.SortFunc(kept, func(a, b *block.Block) int { return cmp.Compare(a.Meta().MinTime, b.Meta().MinTime) })
	s.blocks = kept
	s.m.Blocks.Store(int64(len(s.blocks)))
	s.m.Compactions.Add(1)
	var firstErr error
	for _, b := range old {
		if err := s.deleteBlock(b); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// applyRetention deletes whole blocks, oldest first, that are entirely older
// than the retention time (relative to the newest sample, but never after
// the wall clock: one sample ahead of it must not expire the rest) or that push the
// shard's blocks over its share of the size limit. A block a reader holds is
// removed from the list now and from disk when the reader lets go.
func (s *Shard) applyRetention() {
	if len(s.blocks) == 0 || (s.opts.Retention <= 0 && s.opts.RetentionBytes <= 0) {
		return
	}
	newest := s.head.maxt
	for _, b := range s.blocks {
		newest = max(newest, b.Meta().MaxTime-1)
	}
	newest = min(newest, s.nowMs())
	var total int64
	for _, b := range s.blocks {
		total += s.blockSize(b)
	}
	drop := 0
	for drop < len(s.blocks) {
		m := s.blocks[drop].Meta()
		tooOld := s.opts.Retention > 0 && m.MaxTime <= newest-s.opts.Retention.Milliseconds()
		tooBig := s.opts.RetentionBytes > 0 && total > s.opts.RetentionBytes
		if !tooOld && !tooBig {
			break
		}
		total -= s.blockSize(s.blocks[drop])
		drop++
	}
	if drop == 0 {
		return
	}
	dropped := int64(math.MaxInt64) // lowest timestamp removed (noteChange)
	for _, b := range s.blocks[:drop] {
		dropped = min(dropped, b.Meta().MinTime)
		s.log.Info("block removed by retention", zap.Stringer("block", b.Meta().ULID),
			zap.Int64("mint", b.Meta().MinTime), zap.Int64("maxt", b.Meta().MaxTime))
		if err := s.deleteBlock(b); err != nil {
			s.log.Error("retention: delete block", zap.Stringer("block", b.Meta().ULID), zap.Error(err))
		}
	}
	s.blocks = slices.Delete(s.blocks, 0, drop)
	s.noteChange(dropped)
	s.m.Blocks.Store(int64(len(s.blocks)))
	s.m.BlocksRetained.Add(uint64(drop))
}

// blockSize returns the bytes of b's files, measured once per block.
func (s *Shard) blockSize(b *block.Block) int64 {
	id := b.Meta().ULID
	if n, ok := s.sizes[id]; ok {
		return n
	}
	var n int64
	_ = filepath.WalkDir(b.Dir(), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, ierr := d.Info(); ierr == nil {
				n += info.Size()
			}
		}
		return nil // NB: a file vanishing under us only makes the estimate smaller
	})
	if s.sizes == nil {
		s.sizes = map[ulid.ULID]int64{}
	}
	s.sizes[id] = n
	return n
}
