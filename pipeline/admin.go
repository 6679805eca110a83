package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/prometheus/model/labels"
	"golang.org/x/sync/errgroup"

	"github.com/silverback-tsdb/tsdb/internal/fsutil"
	"github.com/silverback-tsdb/tsdb/shard"
)

// Delete marks the samples in [mint, maxt] of the series matching ms as
// deleted. Queries stop returning them at once; compaction (or
// CleanTombstones) removes the data. It returns once the deletion is
// durable. As in Prometheus, a range that reaches into the future also
// hides samples appended later inside it (for series that existed at the
// time of the call); delete up to "now" to avoid that. It waits for a
// running head cut or compaction of each shard, so it can take seconds.
func (db *DB) Delete(ctx context.Context, mint, maxt int64, ms ...*labels.Matcher) error {
	return db.eachShard(ctx, func(ctx context.Context, s *shard.Shard) error {
		return s.Delete(ctx, mint, maxt, ms...)
	})
}

// CleanTombstones rewrites every block that has tombstones without the
// deleted data.
func (db *DB) CleanTombstones(ctx context.Context) error {
	return db.eachShard(ctx, func(ctx context.Context, s *shard.Shard) error { return s.CleanTombstones(ctx) })
}

// Compact runs every due head cut, compaction and retention now, in every
// shard (forceHeadCut first persists the whole head). Each shard's appends
// wait while its work runs: this is for `tsdb compact` and operators.
func (db *DB) Compact(ctx context.Context, forceHeadCut bool) error {
	return db.eachShard(ctx, func(ctx context.Context, s *shard.Shard) error { return s.Maintain(ctx, forceHeadCut) })
}

// Snapshot writes a consistent copy of the database into dir, which must not
// exist: hard links of every block plus each shard's head persisted as a
// block. dir is then usable as a data directory. Appends continue; each
// shard's copy is consistent as of the moment that shard took it.
func (db *DB) Snapshot(ctx context.Context, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("snapshot: %s already exists", dir)
	}
	tmp := dir + fsutil.TmpSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "shards"), 0o755); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(db.dir, shardsFileName))
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := fsutil.WriteFile(filepath.Join(tmp, shardsFileName), b, 0o644); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	err = db.eachShard(ctx, func(ctx context.Context, s *shard.Shard) error {
		return s.Snapshot(ctx, filepath.Join(tmp, "shards", fmt.Sprintf("%02d", s.ID())))
	})
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := fsutil.Rename(tmp, dir); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// eachShard runs fn for every shard concurrently and returns the first
// error.
func (db *DB) eachShard(ctx context.Context, fn func(context.Context, *shard.Shard) error) error {
	if db.closed() {
		return ErrClosed
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range db.shards {
		g.Go(func() error { return fn(ctx, s) })
	}
	return g.Wait()
}
