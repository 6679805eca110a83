package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/internal/fsutil"
)

// Names inside a data directory (docs/OPERATIONS.md §Data directory).
const (
	shardsFileName = "shards.json"
	lockFileName   = "LOCK"
	shardsDirName  = "shards"
	blocksDirName  = "blocks"
	walDirName     = "wal"
	headChunksDir  = "chunks_head"
	quarantineDir  = "quarantine"
	metaFileName   = "meta.json"
)

// errVerify is returned by runInspect when a block failed to open or to
// verify; the command then exits with status 1.
var errVerify = errors.New("block verification failed")

// errNotDataDir is returned for a directory that is neither a data
// directory, a shard directory nor a block directory.
var errNotDataDir = errors.New("not a data, shard or block directory")

// inspectOptions configure runInspect.
type inspectOptions struct {
	// Verify runs block.Verify on every block (every checksum, every chunk
	// decoded), not only the checks of block.Open.
	Verify bool
	Logger *zap.Logger
}

// inspectTarget is one shard to report: its name and directory.
type inspectTarget struct {
	name string // "00", or the directory's base name for a lone shard
	dir  string
	// blocks, when set, limits the report to these block directories (a
	// lone block given on the command line).
	blocks []string
}

// blockRow is one line of the block table.
type blockRow struct {
	name    string
	meta    block.Meta
	bytes   int64
	problem error // open or verify failure; meta is zero when open failed
}

// opened reports whether the block opened (its meta is known).
func (r blockRow) opened() bool { return r.meta.ULID != (ulid.ULID{}) }

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// totals accumulates block rows.
type totals struct {
	blocks, failed                    int
	series, samples, chunks, diskSize int64
}

func (t *totals) add(r blockRow) {
	t.blocks++
	t.diskSize += r.bytes
	if r.problem != nil {
		t.failed++
	}
	if !r.opened() {
		return
	}
	t.series += int64(r.meta.Stats.NumSeries)
	t.samples += int64(r.meta.Stats.NumSamples)
	t.chunks += int64(r.meta.Stats.NumChunks)
}

// runInspect prints, for dir (a data directory, one shard directory or one
// block directory), a table of blocks per shard with totals, each shard's
// WAL and head chunk file sizes, and the quarantined blocks. It only reads:
// blocks are opened with package block directly (read-only mappings), so it
// works on a stopped database; on a data directory it takes a shared lock on
// LOCK and refuses to run while a database process holds it. With Verify it
// verifies every block. A block that fails to open or verify is reported in
// its row; the result is then an error wrapping errVerify.
func runInspect(w io.Writer, dir string, o inspectOptions) error {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	root, targets, err := resolveInspect(dir)
	if err != nil {
		return err
	}
	if root != "" {
		unlock, err := lockShared(filepath.Join(root, lockFileName))
		if err != nil {
			return err
		}
		defer unlock()
	}
	var all totals
	for _, t := range targets {
		st, err := inspectShard(w, t, o)
		if err != nil {
			return err
		}
		all.blocks += st.blocks
		all.failed += st.failed
		all.series += st.series
		all.samples += st.samples
		all.chunks += st.chunks
		all.diskSize += st.diskSize
	}
	if len(targets) > 1 {
		fmt.Fprintf(w, "total: %d shards, %s\n", len(targets), totalsLine(all))
	}
	if root != "" {
		if err := listQuarantine(w, filepath.Join(root, quarantineDir)); err != nil {
			return err
		}
	}
	if all.failed > 0 {
		return fmt.Errorf("%w: %d of %d blocks", errVerify, all.failed, all.blocks)
	}
	return nil
}

// resolveInspect classifies dir and returns the data directory root to lock
// ("" when dir is not inside one) and the shards to report.
func resolveInspect(dir string) (root string, targets []inspectTarget, err error) {
	dir = filepath.Clean(dir)
	fi, err := os.Stat(dir)
	if err != nil {
		return "", nil, fmt.Errorf("inspect: %w", err)
	}
	if !fi.IsDir() {
		return "", nil, fmt.Errorf("inspect %s: %w", dir, errNotDataDir)
	}
	root = findRoot(dir)
	switch {
	case exists(filepath.Join(dir, metaFileName)):
		// <shard>/blocks/<ULID> names its shard; elsewhere (quarantine/,
		// a copied block) there is none.
		name := "-"
		if filepath.Base(filepath.Dir(dir)) == blocksDirName {
			name = filepath.Base(filepath.Dir(filepath.Dir(dir)))
		}
		return root, []inspectTarget{{name: name, blocks: []string{dir}}}, nil
	case exists(filepath.Join(dir, shardsFileName)) || exists(filepath.Join(dir, shardsDirName)):
		ents, err := os.ReadDir(filepath.Join(dir, shardsDirName))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("inspect: %w", err)
		}
		for _, e := range ents {
			if e.IsDir() {
				targets = append(targets, inspectTarget{name: e.Name(), dir: filepath.Join(dir, shardsDirName, e.Name())})
			}
		}
		return root, targets, nil
	case exists(filepath.Join(dir, blocksDirName)) || exists(filepath.Join(dir, walDirName)):
		return root, []inspectTarget{{name: filepath.Base(dir), dir: dir}}, nil
	}
	return "", nil, fmt.Errorf("inspect %s: %w", dir, errNotDataDir)
}

// findRoot returns the nearest of dir and its ancestors (up to the data
// directory of a block: block → blocks → NN → shards → root) holding
// shards.json, or "".
func findRoot(dir string) string {
	for range 5 {
		if exists(filepath.Join(dir, shardsFileName)) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return ""
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// inspectShard prints one shard's block table, totals and head sizes.
func inspectShard(w io.Writer, t inspectTarget, o inspectOptions) (totals, error) {
	var st totals
	dirs := t.blocks
	var leftovers []string
	if dirs == nil {
		ents, err := os.ReadDir(filepath.Join(t.dir, blocksDirName))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return st, fmt.Errorf("inspect shard %s: %w", t.name, err)
		}
		for _, e := range ents {
			switch {
			case strings.HasSuffix(e.Name(), fsutil.TmpSuffix):
				leftovers = append(leftovers, e.Name())
			case e.IsDir():
				if _, err := ulid.ParseStrict(e.Name()); err == nil {
					dirs = append(dirs, filepath.Join(t.dir, blocksDirName, e.Name()))
				}
			}
		}
	}
	rows := make([]blockRow, 0, len(dirs))
	for _, d := range dirs {
		r, err := inspectBlock(d, o)
		if err != nil {
			return st, err
		}
		rows = append(rows, r)
		st.add(r)
	}
	// Time order; blocks that failed to open (no meta) last, by name.
	slices.SortStableFunc(rows, func(a, b blockRow) int {
		if c := cmpBool(a.opened(), b.opened()); c != 0 {
			return -c
		}
		if c := cmp.Compare(a.meta.MinTime, b.meta.MinTime); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})

	fmt.Fprintf(w, "shard %s (%s)\n", t.name, shardPath(t))
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	header := []string{"BLOCK", "MIN TIME", "MAX TIME", "RANGE", "SERIES", "SAMPLES", "CHUNKS", "BYTES", "B/SAMPLE", "LEVEL"}
	if o.Verify {
		header = append(header, "VERIFY")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		var cells []string
		if !r.opened() {
			cells = []string{r.name, "-", "-", "-", "-", "-", "-", strconv.FormatInt(r.bytes, 10), "-", "-"}
		} else {
			m := r.meta
			cells = []string{m.ULID.String(), formatTime(m.MinTime), formatTime(m.MaxTime), formatDuration(m.MaxTime - m.MinTime),
				strconv.FormatUint(m.Stats.NumSeries, 10), strconv.FormatUint(m.Stats.NumSamples, 10), strconv.FormatUint(m.Stats.NumChunks, 10),
				strconv.FormatInt(r.bytes, 10), bytesPerSample(r.bytes, int64(m.Stats.NumSamples)), strconv.Itoa(m.Compaction.Level)}
		}
		switch {
		case !o.Verify:
		case r.problem != nil:
			cells = append(cells, "FAILED")
		default:
			cells = append(cells, "ok")
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return st, fmt.Errorf("write table: %w", err)
	}
	for _, r := range rows {
		if r.problem != nil {
			fmt.Fprintf(w, "  ERROR %s: %v\n", r.name, r.problem)
		}
	}
	for _, l := range leftovers {
		fmt.Fprintf(w, "  leftover %s (an interrupted write or delete; the database removes it at start)\n", l)
	}
	fmt.Fprintf(w, "  blocks: %s\n", totalsLine(st))
	if t.blocks == nil {
		walSize, walFiles, err := dirSize(filepath.Join(t.dir, walDirName))
		if err != nil {
			return st, err
		}
		hcSize, hcFiles, err := dirSize(filepath.Join(t.dir, headChunksDir))
		if err != nil {
			return st, err
		}
		fmt.Fprintf(w, "  head: wal %d bytes (%s, %d files), head chunk files %d bytes (%s, %d files)\n",
			walSize, formatSize(walSize), walFiles, hcSize, formatSize(hcSize), hcFiles)
	}
	fmt.Fprintln(w)
	return st, nil
}

func shardPath(t inspectTarget) string {
	if t.dir != "" {
		return t.dir
	}
	return filepath.Dir(t.blocks[0])
}

// inspectBlock opens (and with Verify verifies) the block in dir. Damage is
// returned in the row, not as the error; the error is for I/O failures that
// are not about the block's bytes (e.g. permissions).
func inspectBlock(dir string, o inspectOptions) (blockRow, error) {
	r := blockRow{name: filepath.Base(dir)}
	size, _, err := dirSize(dir)
	if err != nil {
		return r, err
	}
	r.bytes = size
	b, err := block.Open(dir, block.OpenOptions{Logger: o.Logger})
	if err != nil {
		if errors.Is(err, block.ErrCorrupt) || errors.Is(err, block.ErrUnsupportedVersion) {
			r.problem = err
			return r, nil
		}
		return r, fmt.Errorf("inspect block %s: %w", dir, err)
	}
	r.meta = b.Meta()
	if o.Verify {
		r.problem = b.Verify()
	}
	if err := b.Close(); err != nil {
		return r, fmt.Errorf("close block %s: %w", dir, err)
	}
	return r, nil
}

func totalsLine(t totals) string {
	s := fmt.Sprintf("%d blocks, %d series (summed over blocks), %d samples, %d chunks, %d bytes (%s), %s B/sample",
		t.blocks, t.series, t.samples, t.chunks, t.diskSize, formatSize(t.diskSize), bytesPerSample(t.diskSize, t.samples))
	if t.failed > 0 {
		s += fmt.Sprintf(", %d FAILED", t.failed)
	}
	return s
}

func bytesPerSample(size, samples int64) string {
	if samples == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(size)/float64(samples))
}

// dirSize sums the sizes of the regular files under dir (0 when dir does
// not exist).
func dirSize(dir string) (size int64, files int, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == dir {
				return fs.SkipAll
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		size += fi.Size()
		files++
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return size, files, nil
}

// listQuarantine prints the entries of the quarantine directory, if any.
func listQuarantine(w io.Writer, dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list quarantine: %w", err)
	}
	if len(ents) == 0 {
		return nil
	}
	fmt.Fprintf(w, "quarantine (%s): %d blocks the database refused at start; inspect them, then delete or restore\n", dir, len(ents))
	for _, e := range ents {
		fmt.Fprintf(w, "  %s\n", e.Name())
	}
	return nil
}
