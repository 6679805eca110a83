package fsutil

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// TmpSuffix is appended to the name of a file or directory that is being
// built and not yet published by a rename. Owners remove leftovers with this
// suffix when they open their directory.
const TmpSuffix = ".tmp"

// SyncDir fsyncs the directory dir so that entries created, renamed or removed
// in it survive a power loss. It returns the open, sync or close error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s for sync: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close() // NB: the sync error is the one that matters.
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("close dir %s: %w", dir, err)
	}
	return nil
}

// Rename renames oldpath to newpath and fsyncs the parent directory of
// newpath (and of oldpath when it differs), making the rename durable. The
// caller must have fsynced the contents of oldpath first.
func Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return fmt.Errorf("rename %s to %s: %w", oldpath, newpath, err)
	}
	if err := SyncDir(filepath.Dir(newpath)); err != nil {
		return err
	}
	if od := filepath.Dir(oldpath); od != filepath.Dir(newpath) {
		return SyncDir(od)
	}
	return nil
}

// WriteFile atomically replaces path with data: it writes path+TmpSuffix,
// fsyncs it, renames it over path and fsyncs the directory. After a crash
// path holds either its previous content or data, never a prefix of data.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	tmp := path + TmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	return Rename(tmp, path)
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
