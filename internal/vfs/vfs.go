// Package vfs is the file-system seam of the storage packages: the WAL
// (segments, checkpoints, truncation, repair and quarantine) writes and
// reads through an FS, so that tests can run it over MemFS, a strict
// in-memory file system that loses, at a simulated power cut, everything
// that was not fsynced and every directory change that was not followed by a
// directory fsync.
//
// It owns no format. OS is the real file system; every FS method has the
// meaning of the os function of the same name, plus SyncDir, which fsyncs a
// directory so that the entries created, renamed or removed in it survive a
// power loss.
//
// Concurrency: OS and MemFS are safe for concurrent use; a File is owned by
// one goroutine at a time, as an *os.File would be.
package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is an open file.
type File interface {
	io.Reader
	io.Writer
	io.ReaderAt
	io.WriterAt
	io.Seeker
	io.Closer
	// Sync makes the file's content durable (fsync).
	Sync() error
	Stat() (fs.FileInfo, error)
	Truncate(size int64) error
	Name() string
}

// FS is the file system the storage writes through.
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(name string) error
	Rename(oldpath, newpath string) error
	MkdirAll(name string, perm fs.FileMode) error
	ReadDir(name string) ([]fs.DirEntry, error)
	Stat(name string) (fs.FileInfo, error)
	// SyncDir fsyncs directory name: entries created, renamed or removed
	// in it become durable.
	SyncDir(name string) error
}

// OS is the operating system's file system.
var OS FS = osFS{}

// Or returns fsys, or OS when fsys is nil (the zero value of an options
// struct's FS field).
func Or(fsys FS) FS {
	if fsys == nil {
		return OS
	}
	return fsys
}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // NB: a nil *os.File must not become a non-nil File
	}
	return f, nil
}
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("open dir %s for sync: %w", name, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close() // NB: the sync error is the one that matters.
		return fmt.Errorf("sync dir %s: %w", name, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("close dir %s: %w", name, err)
	}
	return nil
}

// TmpSuffix is appended to the name of a file that WriteFile is building
// and has not yet published by a rename (fsutil.TmpSuffix is the same).
const TmpSuffix = ".tmp"

// Open opens name read-only.
func Open(fsys FS, name string) (File, error) { return fsys.OpenFile(name, os.O_RDONLY, 0) }

// ReadFile returns the content of name.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := Open(fsys, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Rename renames oldpath to newpath and fsyncs the parent directory of
// newpath (and of oldpath when it differs). The caller must have fsynced
// the contents of oldpath first.
func Rename(fsys FS, oldpath, newpath string) error {
	if err := fsys.Rename(oldpath, newpath); err != nil {
		return fmt.Errorf("rename %s to %s: %w", oldpath, newpath, err)
	}
	if err := fsys.SyncDir(filepath.Dir(newpath)); err != nil {
		return err
	}
	if od := filepath.Dir(oldpath); od != filepath.Dir(newpath) {
		return fsys.SyncDir(od)
	}
	return nil
}

// WriteFile atomically replaces path with data: it writes path+".tmp",
// fsyncs it, renames it over path and fsyncs the directory. After a crash
// path holds either its previous content or data, never a prefix of data.
func WriteFile(fsys FS, path string, data []byte, perm fs.FileMode) error {
	_, err := WriteFileFunc(fsys, path, perm, func(w io.Writer) (int64, error) {
		n, err := w.Write(data)
		return int64(n), err
	})
	return err
}

// WriteFileFunc is WriteFile for content that write produces in pieces
// (buffering is write's choice), so that a large file is never assembled
// in memory first. It returns the bytes written.
func WriteFileFunc(fsys FS, path string, perm fs.FileMode, write func(io.Writer) (int64, error)) (int64, error) {
	tmp := path + TmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", tmp, err)
	}
	n, err := write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return n, fmt.Errorf("write %s: %w", tmp, err)
	}
	return n, Rename(fsys, tmp, path)
}

// MkdirAll creates dir and any missing parents like FS.MkdirAll, then
// fsyncs the parent of every directory it created, so that the new entries
// survive a power loss (a directory created but never made durable in its
// parent vanishes with everything later written into it).
func MkdirAll(fsys FS, dir string, perm fs.FileMode) error {
	var created []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := fsys.Stat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("create dir %s: %w", dir, err)
		}
		created = append(created, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if err := fsys.MkdirAll(dir, perm); err != nil {
		return fmt.Errorf("create dir %s: %w", dir, err)
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := fsys.SyncDir(filepath.Dir(created[i])); err != nil {
			return err
		}
	}
	return nil
}

// TruncateFile cuts name to size bytes and fsyncs it.
func TruncateFile(fsys FS, name string, size int64) error {
	f, err := fsys.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
