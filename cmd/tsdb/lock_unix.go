//go:build unix

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// errInUse is returned by lockShared when a database process holds the
// data directory.
var errInUse = errors.New("data directory in use by a running database")

// lockShared takes a shared, non-blocking flock on the data directory's
// LOCK file, which a running database holds exclusively (pipeline.Open):
// so inspect refuses to read a directory being written, and a database
// cannot start while inspect runs. A missing LOCK (a directory no database
// ever opened, e.g. a snapshot) needs no lock and is not created. The
// returned func releases the lock.
func lockShared(path string) (unlock func(), err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked; stop the database or inspect a snapshot", errInUse, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}
