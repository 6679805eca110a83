package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// adminOptions are shared by the offline admin commands (compact,
// snapshot, delete, clean-tombstones): each opens the database in DataDir,
// does one thing through package pipeline, and closes it.
type adminOptions struct {
	DataDir string
	// Retention and RetentionBytes apply to `tsdb compact`, whose
	// maintenance pass also runs retention (0: none, as in pipeline).
	Retention      time.Duration
	RetentionBytes int64
	Logger         *zap.Logger
}

// openOffline opens an existing data directory (refusing to create one:
// a typo in --data-dir must not yield an empty database). pipeline.Open
// takes the directory's exclusive lock, so a running server is refused
// with pipeline.ErrLocked.
func openOffline(o adminOptions) (*pipeline.DB, error) {
	if _, err := os.Stat(filepath.Join(o.DataDir, shardsFileName)); err != nil {
		return nil, fmt.Errorf("%s is not a data directory (no %s): %w", o.DataDir, shardsFileName, err)
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	db, err := pipeline.Open(o.DataDir, pipeline.Options{
		Retention:      o.Retention,
		RetentionBytes: o.RetentionBytes,
		// Offline: no series is idle long enough to matter.
		HeadGCInterval: -1,
		Logger:         log,
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// withDB runs fn on the offline database and closes it, joining errors.
func withDB(o adminOptions, fn func(db *pipeline.DB) error) error {
	db, err := openOffline(o)
	if err != nil {
		return err
	}
	err = fn(db)
	if cerr := db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close database: %w", cerr))
	}
	return err
}

// countBlocks counts the block directories of every shard of a data
// directory (for the before/after line of compact).
func countBlocks(dataDir string) (int, error) {
	matches, err := filepath.Glob(filepath.Join(dataDir, shardsDirName, "*", blocksDirName, "*", metaFileName))
	if err != nil {
		return 0, fmt.Errorf("count blocks: %w", err)
	}
	return len(matches), nil
}

// runCompact runs every due head cut, compaction and retention of the
// database in o.DataDir now (with head, the whole head is first persisted
// as blocks), then closes it.
func runCompact(ctx context.Context, w io.Writer, o adminOptions, head bool) error {
	before, err := countBlocks(o.DataDir)
	if err != nil {
		return err
	}
	start := time.Now()
	err = withDB(o, func(db *pipeline.DB) error {
		if err := db.Compact(ctx, head); err != nil {
			return fmt.Errorf("compact: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	after, err := countBlocks(o.DataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "compacted %s in %s: %d blocks before, %d after\n", o.DataDir, time.Since(start).Round(time.Millisecond), before, after)
	return nil
}

// runSnapshot writes a snapshot of the database in o.DataDir to out, which
// must not exist; out "" means <data-dir>/snapshots/<UTC time>. The
// snapshot is a data directory of its own: hard links of every block plus
// the head persisted as one block per shard.
func runSnapshot(ctx context.Context, w io.Writer, o adminOptions, out string, now time.Time) error {
	if out == "" {
		out = filepath.Join(o.DataDir, "snapshots", now.UTC().Format("20060102T150405Z"))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	err := withDB(o, func(db *pipeline.DB) error { return db.Snapshot(ctx, out) })
	if err != nil {
		return err
	}
	n, err := countBlocks(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "snapshot written to %s (%d blocks); restore by starting with --data-dir=%s\n", out, n, out)
	return nil
}

// deleteRequest is what `tsdb delete` removes: the series matching any of
// Selectors, samples with Mint <= t <= Maxt (ms).
type deleteRequest struct {
	Selectors  []string
	Mint, Maxt int64
}

// parseSelectors parses each selector ("{job=\"x\"}", "up{instance=~\".*\"}")
// into its matchers. A selector whose matchers all match the empty string
// would select every series and is refused, as Prometheus does.
func parseSelectors(sels []string) ([][]*labels.Matcher, error) {
	if len(sels) == 0 {
		return nil, fmt.Errorf("%w: at least one --match selector is required", errFlag)
	}
	p := parser.NewParser(parser.Options{})
	out := make([][]*labels.Matcher, 0, len(sels))
	for _, s := range sels {
		ms, err := p.ParseMetricSelector(s)
		if err != nil {
			return nil, fmt.Errorf("%w: selector %q: %w", errFlag, s, err)
		}
		empty := true
		for _, m := range ms {
			if !m.Matches("") {
				empty = false
				break
			}
		}
		if empty {
			return nil, fmt.Errorf("%w: selector %q matches every series; give at least one matcher that does not match the empty string", errFlag, s)
		}
		out = append(out, ms)
	}
	return out, nil
}

// runDelete marks the samples of r as deleted (tombstones): queries stop
// returning them at once, compaction or clean-tombstones removes the data.
func runDelete(ctx context.Context, w io.Writer, o adminOptions, r deleteRequest) error {
	if r.Mint > r.Maxt {
		return fmt.Errorf("%w: start %s is after end %s", errFlag, formatTime(r.Mint), formatTime(r.Maxt))
	}
	sels, err := parseSelectors(r.Selectors)
	if err != nil {
		return err
	}
	err = withDB(o, func(db *pipeline.DB) error {
		for i, ms := range sels {
			if err := db.Delete(ctx, r.Mint, r.Maxt, ms...); err != nil {
				return fmt.Errorf("delete %s: %w", r.Selectors[i], err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "deleted %d selector(s) in [%s, %s]; run `tsdb clean-tombstones` or let compaction remove the data\n",
		len(sels), timeBound(r.Mint), timeBound(r.Maxt))
	return nil
}

func timeBound(ms int64) string {
	switch ms {
	case math.MinInt64:
		return "-inf"
	case math.MaxInt64:
		return "+inf"
	}
	return formatTime(ms)
}

// runCleanTombstones rewrites every block with tombstones without the
// deleted data.
func runCleanTombstones(ctx context.Context, w io.Writer, o adminOptions) error {
	err := withDB(o, func(db *pipeline.DB) error {
		if err := db.CleanTombstones(ctx); err != nil {
			return fmt.Errorf("clean tombstones: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "tombstones cleaned in %s\n", o.DataDir)
	return nil
}
