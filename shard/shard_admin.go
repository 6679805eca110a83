package shard

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/internal/fsutil"
)

// Administrative operations. Each runs on the shard goroutine through exec
// and may run a background job synchronously there, holding up this shard's
// appends for its duration: they are for operators and tests, not the
// ingest path.

// Maintain runs, synchronously, every background job that is due: with
// forceHeadCut it first persists the whole head into a block; then it cuts,
// compacts and applies retention until nothing is left to do. It is what
// `tsdb compact` runs on a database opened offline.
func (s *Shard) Maintain(ctx context.Context, forceHeadCut bool) error {
	return s.exec(ctx, func() error {
		s.settleJob()
		if forceHeadCut {
			if j, ok := s.planHeadCut(true); ok {
				if err := s.runNow(j); err != nil {
					return err
				}
			}
		}
		for range maxMaintainRounds {
			j, ok := s.planHeadCut(false)
			if !ok {
				j, ok = s.planHistoryCut()
			}
			if !ok {
				j, ok = s.planCompaction()
			}
			if !ok {
				s.applyRetention()
				s.gc()
				return nil
			}
			if err := s.runNow(j); err != nil {
				return err
			}
		}
		return fmt.Errorf("maintenance did not settle after %d jobs", maxMaintainRounds)
	})
}

// maxMaintainRounds bounds Maintain; each round removes at least one block
// or one head range, so a real database settles far sooner.
const maxMaintainRounds = 10000

// runNow runs j on the calling (shard) goroutine.
func (s *Shard) runNow(j job) error {
	apply, err := j.run(context.Background())
	switch {
	case err != nil && j.undo != nil:
		j.undo(s)
	case err == nil && apply != nil:
		err = apply(s)
	}
	if err != nil {
		return fmt.Errorf("shard %d: %s: %w", s.id, j.name, err)
	}
	return nil
}

// CleanTombstones rewrites every block that has tombstones without the
// deleted data (a compaction of the block alone).
func (s *Shard) CleanTombstones(ctx context.Context) error {
	return s.exec(ctx, func() error {
		s.settleJob()
		for _, b := range append([]*block.Block(nil), s.blocks...) {
			if len(b.Tombstones()) == 0 {
				continue
			}
			if err := s.runNow(s.compactionJob([]*block.Block{b}, "clean tombstones")); err != nil {
				return err
			}
		}
		return nil
	})
}

// Snapshot writes a consistent copy of the shard to dir (a shard directory
// of a new data directory): hard links of every block's files, and the
// whole head persisted as one more block. The result opens as a shard with
// an empty WAL.
func (s *Shard) Snapshot(ctx context.Context, dir string) error {
	return s.exec(ctx, func() error {
		bdir := filepath.Join(dir, "blocks")
		if err := os.MkdirAll(bdir, 0o755); err != nil {
			return fmt.Errorf("create snapshot dir: %w", err)
		}
		for _, b := range s.blocks {
			if err := linkTree(b.Dir(), filepath.Join(bdir, filepath.Base(b.Dir()))); err != nil {
				return fmt.Errorf("snapshot block %s: %w", b.Meta().ULID, err)
			}
		}
		if s.ooo.n > 0 {
			// The late samples, as a cut would write them (the head stays).
			late, err := s.writeOOOBlocks(bdir, s.snapshotOOO(s.ooo))
			for _, b := range late {
				err = errors.Join(err, b.Close())
			}
			if err != nil {
				return fmt.Errorf("snapshot late samples: %w", err)
			}
		}
		h := s.head
		if h.maxt == math.MinInt64 || h.maxt < s.queryMinT {
			return nil
		}
		snap := s.snapshotHead(max(h.mint, s.queryMinT), h.maxt+1)
		defer snap.files.Release()
		b, err := s.writeSnapshotBlock(bdir, snap)
		if err != nil {
			return fmt.Errorf("snapshot head: %w", err)
		}
		if b != nil {
			return b.Close()
		}
		return nil
	})
}

// writeSnapshotBlock writes the snapshot's series to a block in parent and
// opens it; nil when there was nothing to write. The block is dense from
// the start: the long-term encoding with timestamps shared per scrape
// target, as compaction writes (longTermOptions; docs/COMPRESSION.md
// §Long-term encoding), in chunks of at most cutChunkSamples.
func (s *Shard) writeSnapshotBlock(parent string, snap *headSnapshot) (*block.Block, error) {
	o := longTermOptions(chunkstore.NewReencoder(chunkstore.ReencodeOptions{MaxSamples: cutChunkSamples}), cutChunkSamples, false)
	// Constant series are one chunk: cheap to decode whatever its length.
	o.ConstantSamples = chunkstore.DefaultLongTermSamples
	o.Logger = s.log
	meta, err := block.WriteSeries(parent, snap.mint, snap.boundary, func(yield func(labels.Labels, []chunkstore.Chunk) error) error {
		_, err := s.addSnapshotSeries(yield, snap)
		return err
	}, o)
	if err != nil {
		return nil, err
	}
	if meta.ULID.IsZero() {
		return nil, nil
	}
	return block.Open(filepath.Join(parent, meta.ULID.String()), block.OpenOptions{})
}

// cutChunkSamples bounds the chunks of a block cut from the head: the head's
// own chunk size. The newest data is what queries read most, often a few
// minutes of it (an instant query, a dashboard's last hour), and a read
// decodes whole chunks: with the 2,880-sample bound of compaction every
// chunk of a 2 h block held the whole range (480 samples at 15 s), and
// such queries decoded four times the samples. Shared timestamp columns
// are per 120-sample window then; the block is a little larger
// (PERFORMANCE.md §Blocks).
const cutChunkSamples = chunkstore.DefaultSamplesPerChunk

// linkTree hard-links every file of src into a new directory tree dst and
// fsyncs the directories.
func linkTree(src, dst string) error {
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return os.Link(path, target)
	})
	if err != nil {
		return err
	}
	return errors.Join(fsutil.SyncDir(filepath.Join(dst, "chunks")), fsutil.SyncDir(dst), fsutil.SyncDir(filepath.Dir(dst)))
}
