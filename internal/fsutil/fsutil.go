package fsutil

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/silverback-tsdb/tsdb/internal/vfs"
)

// TmpSuffix is appended to the name of a file or directory that is being
// built and not yet published by a rename. Owners remove leftovers with this
// suffix when they open their directory.
const TmpSuffix = vfs.TmpSuffix

// SyncDir fsyncs the directory dir so that entries created, renamed or removed
// in it survive a power loss. It returns the open, sync or close error. It is
// vfs.OS's SyncDir, for callers that write outside the vfs seam.
func SyncDir(dir string) error { return vfs.OS.SyncDir(dir) }

// Rename renames oldpath to newpath and fsyncs the parent directory of
// newpath (and of oldpath when it differs), making the rename durable. The
// caller must have fsynced the contents of oldpath first. See vfs.Rename.
func Rename(oldpath, newpath string) error { return vfs.Rename(vfs.OS, oldpath, newpath) }

// WriteFile atomically replaces path with data: it writes path+TmpSuffix,
// fsyncs it, renames it over path and fsyncs the directory. After a crash
// path holds either its previous content or data, never a prefix of data.
// See vfs.WriteFile.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return vfs.WriteFile(vfs.OS, path, data, perm)
}

// SyncFile opens path read-only, fsyncs it and closes it. It is used to
// make a file written by someone else (for example a finished temporary
// directory's members) durable before publishing it.
func SyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s for sync: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
