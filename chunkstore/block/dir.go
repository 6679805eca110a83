package block

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/internal/fsutil"
)

// deletingSuffix is inserted before TmpSuffix when a block directory is
// renamed away for deletion, so an interrupted delete leaves a *.tmp that
// RemoveTmp cleans, never a half-deleted block under its ULID.
const deletingSuffix = ".deleting"

// Delete removes the block directory dir crash-safely: it first renames it
// to <ULID>.deleting.tmp (and fsyncs the parent), so after a crash the
// block is either whole under its name or a temporary that RemoveTmp
// removes. The block must not be open (see Block.MarkForDeletion).
func Delete(dir string) error {
	tmp := dir + deletingSuffix + fsutil.TmpSuffix
	if err := fsutil.Rename(dir, tmp); err != nil {
		return fmt.Errorf("block: delete %s: %w", dir, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("block: delete %s: %w", dir, err)
	}
	return nil
}

// RemoveTmp removes every entry of parent whose name ends in
// fsutil.TmpSuffix: blocks whose writing, compaction or deletion was
// interrupted. Such directories are never data. It returns the removed
// names.
func RemoveTmp(parent string) ([]string, error) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return nil, fmt.Errorf("block: list %s: %w", parent, err)
	}
	var removed []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), fsutil.TmpSuffix) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(parent, e.Name())); err != nil {
			return removed, fmt.Errorf("block: remove leftover %s: %w", e.Name(), err)
		}
		removed = append(removed, e.Name())
	}
	if len(removed) > 0 {
		if err := fsutil.SyncDir(parent); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// OpenAll removes leftover temporaries in parent (RemoveTmp), then opens
// every subdirectory whose name is a ULID. Blocks that fail to open with a
// corruption or unsupported version are not returned but listed in failed
// (directory name -> error) so the caller can quarantine them; any other
// error closes what was opened and is returned. Blocks are sorted by
// MinTime, then ULID. Other entries of parent are ignored.
func OpenAll(parent string, o OpenOptions) (blocks []*Block, failed map[string]error, err error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	removed, err := RemoveTmp(parent)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range removed {
		o.Logger.Info("block leftover removed", zap.String("dir", name))
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		return nil, nil, fmt.Errorf("block: list %s: %w", parent, err)
	}
	failed = map[string]error{}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, perr := ulid.ParseStrict(e.Name()); perr != nil {
			continue
		}
		b, oerr := Open(filepath.Join(parent, e.Name()), o)
		if oerr != nil {
			if errors.Is(oerr, ErrCorrupt) || errors.Is(oerr, ErrUnsupportedVersion) {
				failed[e.Name()] = oerr
				continue
			}
			for _, b := range blocks {
				_ = b.Close()
			}
			return nil, nil, oerr
		}
		blocks = append(blocks, b)
	}
	slices.SortFunc(blocks, func(a, b *Block) int {
		if a.meta.MinTime != b.meta.MinTime {
			if a.meta.MinTime < b.meta.MinTime {
				return -1
			}
			return 1
		}
		return a.meta.ULID.Compare(b.meta.ULID)
	})
	return blocks, failed, nil
}
